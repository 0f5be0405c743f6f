"""App assembly: `FlaskPypeline` (alias `FlaskSermos`) mounts the JSON API and the dashboard side by side.

`create_app()` builds a standalone Flask app with both. The faces (`pypeline.api`, `pypeline.web`) never import
each other; this module is the only place that knows both.
"""
from __future__ import annotations

import logging
import secrets
import threading

from flask import Flask, redirect
from werkzeug.wrappers import Response

from pypeline.api.mount import PypelineApi, mount_api
from pypeline.config.model import PypelineConfig
from pypeline.errors import PypelineError
from pypeline.http.auth import AuthCallback, KeyAuth
from pypeline.http.constants import API_PREFIX, EXTENSION_KEY, UI_PREFIX
from pypeline.runtime import Runtime
from pypeline.settings import get_settings
from pypeline.version import __version__
from pypeline.web import dashboard_blueprint

__all__ = ["FlaskPypeline", "FlaskSermos", "create_app"]

log = logging.getLogger(__name__)


class FlaskPypeline:
    """Flask extension: `FlaskPypeline(app)` or `ext = FlaskPypeline(); ext.init_app(app)`.

    `runtime` (or `config_path`, else `PYPELINE_CONFIG`) says which config and services to use; `auth`
    replaces API-key checks with your own callback `(request, scope) -> Principal | bool | None`.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        runtime: Runtime | None = None,
        config_path: str | None = None,
        auth: AuthCallback | None = None,
        dashboard: bool = True,
        url_prefix: str = API_PREFIX,
    ) -> None:
        self._runtime = runtime
        self._config_path = config_path
        self._lock = threading.Lock()
        self.auth: AuthCallback = auth or KeyAuth(lambda: self.runtime)
        self.dashboard = dashboard
        self.url_prefix = url_prefix.rstrip("/")
        self.api: PypelineApi | None = None
        if app is not None:
            self.init_app(app)

    @property
    def runtime(self) -> Runtime:
        """The runtime serving requests (built on first use from config_path or PYPELINE_CONFIG)."""
        if self._runtime is None:
            with self._lock:
                if self._runtime is None:
                    path = self._config_path or get_settings().config_path
                    if not path:
                        raise PypelineError("no config for the API: pass config_path/runtime or set PYPELINE_CONFIG")
                    self._runtime = Runtime.from_path(path)
        return self._runtime

    @property
    def max_content_length(self) -> int:
        """Largest request body the API reads, in bytes (settings.max_payload_bytes)."""
        return self.runtime.settings.max_payload_bytes

    def init_app(self, app: Flask, init_api: bool = True) -> None:
        """Mount the API (and the dashboard) on `app`; `init_api=False` mounts only the dashboard."""
        app.extensions[EXTENSION_KEY] = self
        app.config.setdefault("SERMOS_CLIENT_VERSION", __version__)
        if init_api:
            self.api = mount_api(app, self.url_prefix, self._config)
        if self.dashboard:
            if app.config.get("SESSION_COOKIE_SAMESITE") is None:  # a host app that chose nothing gets Lax
                app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
            if not app.secret_key:
                app.secret_key = self._secret_key()
            app.register_blueprint(dashboard_blueprint)

    def _secret_key(self) -> str:
        """`PYPELINE_SECRET_KEY` for a host app without a secret, else a per-process key (with a warning)."""
        settings = self._runtime.settings if self._runtime is not None else get_settings()
        if settings.secret_key:
            return settings.secret_key
        log.warning("the Flask app has no secret_key and PYPELINE_SECRET_KEY is not set: dashboard sessions use a "
                    "per-process random key (logins do not survive restarts or span processes)")
        return secrets.token_hex(32)

    def _config(self) -> PypelineConfig | None:
        try:
            return self.runtime.config
        except PypelineError:
            return None


#: The original's name for the extension.
FlaskSermos = FlaskPypeline


def create_app(
    config_path: str | None = None,
    *,
    runtime: Runtime | None = None,
    auth: AuthCallback | None = None,
) -> Flask:
    """A Flask app for `config_path` (else `PYPELINE_CONFIG`), or for an existing runtime."""
    if runtime is None:
        path = config_path or get_settings().config_path
        if not path:
            raise PypelineError("no config for the API: pass a FILE or set PYPELINE_CONFIG")
        runtime = Runtime.from_path(path, get_settings())
    app = Flask("pypeline")
    app.config["MAX_CONTENT_LENGTH"] = runtime.settings.max_payload_bytes
    app.config["SESSION_COOKIE_NAME"] = "pypeline_session"
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    secret = runtime.settings.secret_key
    if not secret:
        # Sessions (dashboard logins) then last only as long as this process.
        log.warning("PYPELINE_SECRET_KEY is not set: dashboard sessions use a per-process random key")
        secret = secrets.token_hex(32)
    app.config["SECRET_KEY"] = secret
    FlaskPypeline(app, runtime=runtime, auth=auth)

    @app.get("/")
    def index() -> Response:
        """The dashboard is the home page."""
        return redirect(UI_PREFIX + "/")

    return app

"""`FlaskPypeline` (alias `FlaskSermos`): mounts the API blueprints and the dashboard in any Flask app."""
from __future__ import annotations

import importlib
import logging
import secrets
import threading
from typing import Any

from flask import Flask
from flask_smorest import Api

from pypeline.api.auth import AuthCallback, KeyAuth
from pypeline.api.constants import API_EXTENSION_KEYS, API_PREFIX, EXTENSION_KEY
from pypeline.api.errors import install_routing_handlers
from pypeline.api.openapi_rules import apply_rules
from pypeline.api.schemas import ErrorSchema
from pypeline.config.model import PypelineConfig
from pypeline.errors import PypelineError
from pypeline.runtime import Runtime
from pypeline.settings import get_settings
from pypeline.version import __version__

__all__ = ["FlaskPypeline", "FlaskSermos", "PypelineApi", "RESOURCE_BLUEPRINTS"]

log = logging.getLogger(__name__)

#: Resource blueprints, by module; a module missing at import time (optional layer) is skipped.
RESOURCE_BLUEPRINTS = (
    "pypeline.api.blueprints.pipelines",
    "pypeline.api.blueprints.runs",
    "pypeline.api.blueprints.schedules",
    "pypeline.api.blueprints.batches",
    "pypeline.api.blueprints.health",
    "pypeline.api.blueprints.config",
)

#: Service modules written by other layers; their blueprints are skipped while they are absent.
_OPTIONAL_SERVICES = ("pypeline.services.schedules", "pypeline.services.batches")


class PypelineApi(Api):
    """flask-smorest Api whose error handling is scoped to Pypeline's blueprints, not the whole app."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        """Errors are handled per blueprint (see ApiBlueprint) so a host app keeps its own handlers."""


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
            self.api = self._make_api(app)
            for key in API_EXTENSION_KEYS:
                app.extensions[key] = self.api
            from pypeline.api.docs import blp as docs_blp

            app.register_blueprint(docs_blp, url_prefix=self.url_prefix)
            install_routing_handlers(app)
        if self.dashboard:
            from pypeline.web import dashboard_blueprint

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

    def _make_api(self, app: Flask) -> PypelineApi:
        api_config = self._api_config()
        docs = api_config.get("apiDocumentation") or {}
        app.config.setdefault("PYPELINE_API_TITLE", docs.get("title") or "Pypeline API")
        app.config.setdefault("PYPELINE_API_VERSION", str(docs.get("version") or "v1"))
        app.config.setdefault("PYPELINE_OPENAPI_VERSION", "3.0.3")
        info = {"description": docs.get("description") or "Invoke and inspect Celery pipelines declared in config."}
        api = PypelineApi(config_prefix="PYPELINE_", spec_kwargs={
            "info": info, "security": [{"accesskey": []}, {"bearer": []}]})
        api.init_app(app)
        api.spec.components.security_scheme("accesskey", {"type": "apiKey", "in": "header", "name": "accesskey"})
        api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
        for tag, text in (api_config.get("prefixDescriptions") or {}).items():
            api.spec.tag({"name": str(tag), "description": str(text)})
        for module_name in RESOURCE_BLUEPRINTS:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name not in (module_name, *_OPTIONAL_SERVICES):
                    raise
                log.warning("API: %s is not mounted (%s is missing)", module_name, exc.name)
                continue
            blp = module.blp
            api.register_blueprint(blp, url_prefix=self.url_prefix + (blp.url_prefix or ""))
        config = self._config()
        if config is not None:
            apply_rules(api.spec, config, self.url_prefix)
        return api

    def _config(self) -> PypelineConfig | None:
        try:
            return self.runtime.config
        except PypelineError:
            return None

    def _api_config(self) -> dict[str, Any]:
        config = self._config()
        return dict(config.api_config or {}) if config is not None else {}


#: The original's name for the extension.
FlaskSermos = FlaskPypeline

"""`create_app()`: a standalone Flask app serving the API, its docs and the dashboard."""
from __future__ import annotations

import logging
import secrets

from flask import Flask, redirect
from werkzeug.wrappers import Response

from pypeline.api.auth import AuthCallback
from pypeline.api.constants import UI_PREFIX
from pypeline.api.extension import FlaskPypeline
from pypeline.errors import PypelineError
from pypeline.runtime import Runtime
from pypeline.settings import get_settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)


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

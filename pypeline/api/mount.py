"""Mount the JSON API on a Flask app: the flask-smorest Api, its resource blueprints, docs and routing errors."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_smorest import Api, Blueprint

from pypeline.api.blueprints import batches, config, health, pipelines, runs, schedules
from pypeline.api.docs import blp as docs_blp
from pypeline.api.errors import install_routing_handlers
from pypeline.api.openapi_rules import apply_rules
from pypeline.api.schemas import ErrorSchema
from pypeline.config.model import PypelineConfig
from pypeline.http.constants import API_EXTENSION_KEYS

__all__ = ["PypelineApi", "RESOURCE_BLUEPRINTS", "mount_api"]

#: Resource blueprints, in the order their tags appear in the OpenAPI document.
RESOURCE_BLUEPRINTS: tuple[Blueprint, ...] = (pipelines.blp, runs.blp, schedules.blp, batches.blp, health.blp,
                                              config.blp)


class PypelineApi(Api):
    """flask-smorest Api whose error handling is scoped to Pypeline's blueprints, not the whole app."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        """Errors are handled per blueprint (see ApiBlueprint) so a host app keeps its own handlers."""


def mount_api(app: Flask, url_prefix: str, config: Callable[[], PypelineConfig | None]) -> PypelineApi:
    """Register the API under `url_prefix`; `config()` gives the config (None when it cannot be loaded)."""
    loaded = config()
    api_config: dict[str, Any] = dict(loaded.api_config or {}) if loaded is not None else {}
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
    for blp in RESOURCE_BLUEPRINTS:
        api.register_blueprint(blp, url_prefix=url_prefix + (blp.url_prefix or ""))
    if loaded is not None:
        apply_rules(api.spec, loaded, url_prefix)
    for key in API_EXTENSION_KEYS:
        app.extensions[key] = api
    app.register_blueprint(docs_blp, url_prefix=url_prefix)
    install_routing_handlers(app)
    return api

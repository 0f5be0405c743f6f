"""FlaskPypeline/FlaskSermos mount everything in a user's app without taking over its routes or errors."""
from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from pypeline.api import FlaskPypeline, FlaskSermos, create_app
from pypeline.errors import PypelineError
from tests.api.support import ApiStack


def _user_app() -> Flask:
    app = Flask("user_app")
    app.config["SECRET_KEY"] = "test"

    @app.get("/hello")
    def hello() -> str:
        return "hello from the user app"

    @app.get("/boom")
    def boom() -> str:
        raise ValueError("user bug")

    @app.errorhandler(404)
    def not_found(_exc: Exception) -> tuple[str, int]:
        return "user 404 page", 404

    return app


def test_extension_mounts_api_and_dashboard_in_a_user_app(module_stack: ApiStack) -> None:
    app = _user_app()
    ext = FlaskPypeline(runtime=module_stack.rt)
    ext.init_app(app)
    client = app.test_client()
    assert app.extensions["pypeline"] is ext
    assert app.extensions["pypeline_core_api"] is ext.api is app.extensions["sermos_core_api"]
    assert client.get("/hello").data == b"hello from the user app"
    assert client.get("/api/v1/health").json["status"] == "ok"
    assert client.get("/api/v1/pipelines/demo", headers=module_stack.r).json["id"] == "demo"
    # The user's own 404 page still serves non-API paths; API paths get JSON.
    assert client.get("/nowhere").data == b"user 404 page"
    api_404 = client.get("/api/v1/nowhere", headers=module_stack.r)
    assert api_404.status_code == 404 and api_404.json["code"] == "not_found"
    # A bug in a user view is not turned into a Pypeline JSON error.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    boom = client.get("/boom")
    assert boom.status_code == 500 and not boom.is_json
    assert client.get("/ui/").status_code == 302  # dashboard asks for a login


def test_flask_sermos_is_the_same_extension(module_stack: ApiStack) -> None:
    assert FlaskSermos is FlaskPypeline
    app = _user_app()
    FlaskSermos(app, runtime=module_stack.rt, dashboard=False)
    client = app.test_client()
    assert client.get("/api/v1/pipelines/", headers=module_stack.w).status_code == 200
    assert client.get("/ui/").data == b"user 404 page"


def test_init_api_false_mounts_only_the_dashboard(module_stack: ApiStack) -> None:
    app = _user_app()
    FlaskPypeline(runtime=module_stack.rt).init_app(app, init_api=False)
    assert app.test_client().get("/api/v1/health").data == b"user 404 page"
    assert "pypeline_core_api" not in app.extensions


def test_create_app_needs_a_config(pypeline_home: Path) -> None:
    with pytest.raises(PypelineError, match="PYPELINE_CONFIG"):
        create_app()


def test_create_app_reads_pypeline_config(pypeline_home: Path, module_stack: ApiStack,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from pypeline.settings import get_settings

    monkeypatch.setenv("PYPELINE_CONFIG", str(module_stack.config))
    monkeypatch.setenv("PYPELINE_DATABASE_URL", str(module_stack.rt.settings.database_url))
    get_settings(refresh=True)
    client = create_app().test_client()
    ids = [p["id"] for p in client.get("/api/v1/pipelines", headers=module_stack.r).json]
    assert ids == list(module_stack.rt.config.pipelines) and "demo" in ids
    assert client.get("/").headers["Location"].endswith("/ui/")

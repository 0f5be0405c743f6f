"""The OpenAPI document: structure, the original's routes, and schemathesis over every operation (zero 5xx)."""
from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from pypeline.api import create_app
from pypeline.settings import get_settings
from tests.api.conftest import Stack, make_stack


def test_document_lists_the_original_routes_and_security(module_stack: Stack) -> None:
    resp = module_stack.client.get("/api/v1/openapi.json", headers=module_stack.r)
    assert resp.status_code == 200
    spec = resp.json
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    assert "get" in paths["/api/v1/pipelines/"]
    assert "get" in paths["/api/v1/pipelines/{pipeline_id}"]
    assert "post" in paths["/api/v1/pipelines/invoke/{pipeline_id}"]
    assert "get" in paths["/api/v1/pipelines/results/{execution_id}"]
    assert {"202", "404"} <= set(paths["/api/v1/pipelines/invoke/{pipeline_id}"]["post"]["responses"])
    schemes = spec["components"]["securitySchemes"]
    assert schemes["accesskey"] == {"type": "apiKey", "in": "header", "name": "accesskey"}
    assert schemes["bearer"]["scheme"] == "bearer"
    assert spec["security"] == [{"accesskey": []}, {"bearer": []}]
    assert paths["/api/v1/health"]["get"]["security"] == []
    docs = module_stack.client.get("/api/v1/docs", headers=module_stack.r)
    assert docs.status_code == 200 and b"/api/v1/pipelines/invoke/{pipeline_id}" in docs.data
    assert b"cdn" not in docs.data.lower()  # works offline


def test_api_config_titles_the_document(tmp_path: Path, redis_url: str, pypeline_home: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """create_app(FILE) reads settings from the environment and honours the config's apiConfig."""
    db = f"sqlite:///{tmp_path / 's.sqlite'}"
    stack = make_stack(tmp_path, redis_url, db)
    text = stack.config.read_text() + (
        "\napiConfig:\n  apiDocumentation:\n    title: Acme Jobs\n    description: Our jobs.\n    version: '2.1'\n"
        "  prefixDescriptions:\n    pipelines: Acme pipelines\n")
    stack.config.write_text(text)
    monkeypatch.setenv("PYPELINE_DATABASE_URL", db)
    monkeypatch.setenv("PYPELINE_BROKER_URL", redis_url)
    get_settings(refresh=True)

    app = create_app(str(stack.config))
    spec = app.test_client().get("/api/v1/openapi.json", headers=stack.r).json
    assert spec["info"]["title"] == "Acme Jobs" and spec["info"]["version"] == "2.1"
    assert spec["info"]["description"] == "Our jobs."
    assert {"name": "pipelines", "description": "Acme pipelines"} in spec["tags"]


@pytest.fixture(scope="module")
def api_schema(module_stack: Stack) -> schemathesis.BaseSchema:
    """The app's own OpenAPI document, loaded in-process (WSGI) with a write key."""
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", module_stack.app, headers=module_stack.w)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case: schemathesis.Case, module_stack: Stack) -> None:
    """Every generated request (valid and invalid) gets a documented, non-5xx answer.

    `positive_data_acceptance` is left out: a schedule that fits the schema can still be refused (400) for
    reasons no JSON schema can state: an undeclared task or pipeline, an unknown timezone, a past one-off time.
    """
    case.call_and_validate(headers=module_stack.w, excluded_checks=[positive_data_acceptance])

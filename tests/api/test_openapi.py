"""The OpenAPI document: structure, the original's routes, and schemathesis over every operation (zero 5xx)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.generation import GenerationMode

from pypeline.api import create_app
from pypeline.api.openapi_rules import UNSTATABLE_RULES
from pypeline.settings import get_settings
from tests.api.support import ApiStack, make_api_stack


def test_document_lists_the_original_routes_and_security(module_stack: ApiStack) -> None:
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
    ref = module_stack.client.get("/api/v1/docs/reference", headers=module_stack.r)
    assert ref.status_code == 200 and b"/api/v1/pipelines/invoke/{pipeline_id}" in ref.data


def test_docs_are_public_and_swagger_ui_is_served_locally(module_stack: ApiStack) -> None:
    """A browser with no key opens the spec and Swagger UI; every asset the page names is served here."""
    client = module_stack.client
    assert client.get("/api/v1/openapi.json").status_code == 200
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and b"SwaggerUIBundle" in page.data
    html = page.get_data(as_text=True)
    assert "cdn" not in html.lower() and "http://" not in html and "https://" not in html  # works offline
    assets = re.findall(r'(?:src|href)="(/api/v1/docs/assets/[^"]+)"', html)
    assert len(assets) >= 3
    for url in assets:
        resp = client.get(url)
        assert resp.status_code == 200 and len(resp.data) > 500, url
    assert client.get("/api/v1/docs/assets/index.j2").status_code == 404  # only the listed assets
    assert client.get("/api/v1/docs/assets/../../__init__.py").status_code == 404
    assert b'"/api/v1/openapi.json"' in page.data
    assert client.get("/api/v1/pipelines/").status_code == 401  # the API itself still needs a key


def test_docs_can_require_a_key(tmp_path: Path, redis_url: str) -> None:
    stack = make_api_stack(tmp_path, redis_url, f"sqlite:///{tmp_path / 's.sqlite'}", docs_require_key=True)
    for url in ("/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/reference"):
        assert stack.client.get(url).status_code == 401, url
        assert stack.client.get(url, headers=stack.r).status_code == 200, url


def test_api_config_titles_the_document(tmp_path: Path, redis_url: str, pypeline_home: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """create_app(FILE) reads settings from the environment and honours the config's apiConfig."""
    db = f"sqlite:///{tmp_path / 's.sqlite'}"
    stack = make_api_stack(tmp_path, redis_url, db)
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
def api_schema(module_stack: ApiStack) -> schemathesis.BaseSchema:
    """The app's own OpenAPI document, loaded in-process (WSGI) with a write key."""
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", module_stack.app, headers=module_stack.w)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case: schemathesis.Case, module_stack: ApiStack) -> None:
    """Every generated request gets a documented, non-5xx answer, and what the document allows is not refused.

    Schemathesis' own `positive_data_acceptance` is replaced by a stricter-worded check: data the document
    allows may get 401/403/404/409 (state) but never 422, and a 400 only for a rule the document lists as
    unstatable (payloadSchema, a past one-off time, min_size > max_size, payload size).
    """
    response = case.call_and_validate(headers=module_stack.w, excluded_checks=[positive_data_acceptance])
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return
    assert response.status_code != 422, (case.as_curl_command(), response.text)
    if response.status_code == 400:
        message = response.json()["message"]
        assert any(rule in message for rule in UNSTATABLE_RULES), (case.as_curl_command(), message)


def test_schedule_body_in_the_document_states_the_real_rules(module_stack: ApiStack) -> None:
    """Targets are the declared ones, timezones real, cron fields checked: a body the document allows is created."""
    spec = module_stack.client.get("/api/v1/openapi.json").json
    body = spec["paths"]["/api/v1/schedules/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ScheduleCreate"}
    variants = spec["components"]["schemas"]["ScheduleCreate"]["properties"]["config"]["oneOf"]
    tasks = {t for v in variants for t in v["properties"].get("task", {}).get("enum", [])}
    pipelines = {p for v in variants for p in v["properties"].get("pipeline", {}).get("enum", [])}
    assert tasks == set(module_stack.rt.config.handlers) and pipelines == set(module_stack.rt.config.pipelines)
    assert "Europe/Paris" in variants[0]["properties"]["timezone"]["enum"]
    assert {"400", "409", "422"} <= set(spec["paths"]["/api/v1/schedules/"]["post"]["responses"])

"""POST /api/v1/config/validate: the dashboard preview's check of edited config text."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.support import ApiStack, make_api_stack

URL = "/api/v1/config/validate"
H = "pypeline_examples.handlers_for_tests"
GOOD = f"""pipelines:
  p:
    name: P
    config:
      dagAdjacency:
        a: [b, c]
        b: [d]
        c: [d]
      taskDefinitions:
        a: {{handler: {H}.fetch}}
        b: {{handler: not_installed_anywhere.module.fn}}
        c: {{handler: {H}.transform}}
        d: {{handler: {H}.load}}
"""


@pytest.fixture(scope="module")
def small_stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> ApiStack:
    """An app with a 4 kB body limit on a SQLite store."""
    tmp = tmp_path_factory.mktemp("config-api")
    return make_api_stack(tmp, redis_url, f"sqlite:///{tmp / 'store.sqlite'}", max_payload_bytes=4000)


def test_valid_text_gives_each_pipeline_with_its_layout(small_stack: ApiStack) -> None:
    before = small_stack.config.read_text()
    resp = small_stack.client.post(URL, json={"text": GOOD}, headers=small_stack.w)
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["valid"] is True and body["errors"] == []  # handlers are not imported
    (graph,) = body["pipelines"]
    assert graph["id"] == "p" and graph["name"] == "P" and graph["levels"] == [["a"], ["b", "c"], ["d"]]
    assert graph["edges"] == [["a", "b"], ["a", "c"], ["b", "d"], ["c", "d"]]
    assert graph["handlers"]["b"] == "not_installed_anywhere.module.fn"
    assert sorted(b["name"] for b in graph["layout"]["boxes"]) == ["a", "b", "c", "d"]
    assert len(graph["layout"]["edges"]) == 4 and graph["layout"]["edges"][0]["d"].startswith("M")
    assert small_stack.config.read_text() == before  # nothing saved


def test_errors_are_the_validate_json_records(small_stack: ApiStack) -> None:
    text = GOOD.replace("b: [d]", "b: [dd]").replace("name: P", "nme: P")
    body = small_stack.client.post(URL, json={"text": text}, headers=small_stack.w).json
    assert body["valid"] is False and body["pipelines"] == []
    records = {(e["line"], e["code"], e["suggestion"]) for e in body["errors"]}
    assert records == {(3, "PYP101", "name"), (7, "PYP202", "d")}
    assert all(e["file"] == "<preview>" and e["column"] for e in body["errors"])
    broken = small_stack.client.post(URL, json={"text": "a: [1, 2\n"}, headers=small_stack.w).json
    assert broken["errors"][0]["code"] == "PYP003" and broken["errors"][0]["line"] == 2
    control = small_stack.client.post(URL, json={"text": "\u0091D"}, headers=small_stack.w)
    assert control.status_code == 200 and control.json["errors"][0]["code"] == "PYP011"


def test_the_server_environment_is_never_read(small_stack: ApiStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYPELINE_TEST_PREVIEW_SECRET", "hunter2")
    text = GOOD.replace("name: P", "name: ${PYPELINE_TEST_PREVIEW_SECRET}")
    body = small_stack.client.post(URL, json={"text": text}, headers=small_stack.w).json
    assert [e["code"] for e in body["errors"]] == ["PYP009"]
    assert "hunter2" not in str(body)
    defaulted = GOOD.replace("name: P", "name: ${PYPELINE_TEST_PREVIEW_SECRET:fallback}")
    assert small_stack.client.post(URL, json={"text": defaulted}, headers=small_stack.w).json["pipelines"][0][
        "name"] == "fallback"


def test_needs_a_write_key_json_and_a_size_cap(small_stack: ApiStack) -> None:
    assert small_stack.client.post(URL, json={"text": GOOD}).status_code == 401
    assert small_stack.client.post(URL, json={"text": GOOD}, headers=small_stack.r).status_code == 403
    assert small_stack.client.post(URL, data=GOOD, headers={**small_stack.w, "Content-Type": "text/yaml"}
                                   ).status_code == 415
    assert small_stack.client.post(URL, json={}, headers=small_stack.w).status_code in (400, 422)
    assert small_stack.client.post(URL, json={"text": "x: " + "y" * 5000}, headers=small_stack.w).status_code == 413


def test_in_the_openapi_document(small_stack: ApiStack) -> None:
    spec = small_stack.client.get("/api/v1/openapi.json", headers=small_stack.r).json
    op = spec["paths"]["/api/v1/config/validate"]["post"]
    assert {"200", "413"} <= set(op["responses"])
    schemas = spec["components"]["schemas"]
    assert {"ConfigValidateBody", "ConfigValidate", "ConfigIssue", "ConfigGraph"} <= set(schemas)
    assert set(schemas["ConfigIssue"]["properties"]) == {"file", "line", "column", "key_path", "code", "name",
                                                         "message", "suggestion"}


def test_the_config_page(small_stack: ApiStack, tmp_path: Path) -> None:
    read = small_stack.client.get("/ui/config", headers=small_stack.r)
    assert read.status_code == 200
    assert b'id="config-loaded"' in read.data and b"config-text" not in read.data
    write = small_stack.client.get("/ui/config", headers=small_stack.w)
    assert write.status_code == 200 and b'id="config-text"' in write.data and b"config_preview.js" in write.data
    assert b"pipelines:" in write.data

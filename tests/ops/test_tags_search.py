"""Runs carry tags and origin; lists filter by pipeline, status, origin, tags and creation time, with paging."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from pypeline.api import create_app
from pypeline.errors import InvalidInputError
from pypeline.runtime import Runtime
from pypeline.services import invoke as invoke_service
from pypeline.services import keys as key_service
from pypeline.services import runs as run_service
from pypeline.store.models import utcnow


def test_filters_on_tags_origin_status_and_time(ops_runtime: Callable[..., Runtime]) -> None:
    rt = ops_runtime()
    a = invoke_service.invoke(rt, "chatty", {"marker": "a"}, origin="api", tags=["nightly", "team:data"])
    b = invoke_service.invoke(rt, "chatty", {"marker": "b"}, origin="cli", tags=["nightly"])
    c = invoke_service.invoke(rt, "chatty", {"marker": "c"}, origin="schedule:s1")

    def ids(**filters: object) -> list[str]:
        return [r["id"] for r in run_service.list_runs(rt, **filters)[0]]  # type: ignore[arg-type]

    assert set(ids()) == {a, b, c}
    assert ids(origin="api") == [a]
    assert set(ids(tags=["nightly"])) == {a, b}
    assert ids(tags=["nightly", "team:data"]) == [a]
    assert ids(tags=["nightly"], origin="cli") == [b]
    assert ids(pipeline_id="limited") == []
    assert set(ids(status="RUNNING")) == {a, b, c}
    assert ids(status=["SUCCESS", "FAILED"]) == []
    assert set(ids(created_after=(utcnow() - timedelta(minutes=1)).isoformat())) == {a, b, c}
    assert ids(created_before=(utcnow() - timedelta(minutes=1)).isoformat()) == []
    page, total = run_service.list_runs(rt, limit=2, offset=2)
    assert total == 3 and len(page) == 1
    assert run_service.get_run(rt, a)["tags"] == ["nightly", "team:data"]
    for bad in ({"status": "NOPE"}, {"tags": ["bad tag"]}, {"created_after": "yesterday"},
                {"created_after": "2026-01-02", "created_before": "2026-01-01"}, {"limit": 0}, {"origin": "a\x00"}):
        with pytest.raises(InvalidInputError):
            run_service.list_runs(rt, **bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        invoke_service.invoke(rt, "chatty", {"marker": "x"}, tags=["no spaces allowed"])


def test_api_filters_and_422s(ops_runtime: Callable[..., Runtime]) -> None:
    rt = ops_runtime()
    app = create_app(runtime=rt)
    app.config["TESTING"] = True
    client = app.test_client()
    headers = {"accesskey": key_service.create_key(rt, "w", "write").token}
    resp = client.post("/api/v1/pipelines/chatty/invoke", json={"chain_payload": {"marker": "m"}, "tags": ["t1"]},
                       headers=headers)
    assert resp.status_code == 202, resp.get_json()
    tagged = resp.get_json()["run_id"]
    invoke_service.invoke(rt, "chatty", {"marker": "n"}, origin="cli")
    listed = client.get("/api/v1/runs/?origin=api", headers=headers).get_json()
    assert [r["id"] for r in listed["items"]] == [tagged] and listed["items"][0]["tags"] == ["t1"]
    assert client.get("/api/v1/runs/?tag=t1&tag=other", headers=headers).get_json()["total"] == 0
    after = (utcnow() - timedelta(hours=1)).isoformat()
    assert client.get("/api/v1/runs/", query_string={"created_after": after}, headers=headers).get_json()["total"] == 2
    for query in ("tag=a%20b", "created_after=notatime", "status=NOPE", "origin=", "origin=a%00b", "nonsense=1"):
        resp = client.get(f"/api/v1/runs/?{query}", headers=headers)
        assert resp.status_code == 422, (query, resp.status_code, resp.get_json())
    # An inverted time range is a cross-field rule: 400 invalid_input (docs/api.md, Errors).
    resp = client.get("/api/v1/runs/?created_after=2026-01-02T00:00:00Z&created_before=2026-01-01T00:00:00Z",
                      headers=headers)
    assert resp.status_code == 400 and resp.get_json()["code"] == "invalid_input"
    resp = client.post("/api/v1/pipelines/chatty/invoke", json={"chain_payload": {}, "tags": ["a b"]},
                       headers=headers)
    assert resp.status_code == 422
    logs = client.get(f"/api/v1/runs/{tagged}/logs?node=talk", headers=headers)
    assert logs.status_code == 200 and logs.get_json() == {"run_id": tagged, "items": [], "next": 0,
                                                           "terminal": False}
    assert client.get(f"/api/v1/runs/{tagged}/logs?node=a%00", headers=headers).status_code == 422
    assert client.get(f"/api/v1/runs/{tagged}/logs?bogus=1", headers=headers).status_code == 422
    assert client.get("/api/v1/runs/nope/logs", headers=headers).status_code == 404
    spec = client.get("/api/v1/openapi.json", headers=headers).get_json()
    params = {p["name"] for p in spec["paths"]["/api/v1/runs/"]["get"]["parameters"]}
    assert {"origin", "tag", "created_after", "created_before"} <= params


def test_schedule_and_config_tags_reach_the_runs_they_start(ops_runtime: Callable[..., Runtime]) -> None:
    from pypeline.scheduler.dispatch import Dispatcher, message_id
    from pypeline.scheduler.spec import spec_from_config
    from pypeline.services import schedules as schedule_service

    rt = ops_runtime()
    doc = schedule_service.create_schedule(rt, {"id": "tagged", "name": "tagged", "pipeline": "chatty",
                                                "every": 60, "payload": {"marker": "s"}, "tags": ["nightly"]})
    assert doc["config"]["tags"] == ["nightly"]
    row = schedule_service.schedule_store(rt).get("tagged")
    assert row is not None and row.spec.tags == ("nightly",)
    run_id = message_id("tagged", utcnow())
    Dispatcher(rt).send("tagged", row.spec, run_id)
    assert run_service.get_run(rt, run_id)["tags"] == ["nightly"]
    assert run_service.get_run(rt, run_id)["origin"] == "schedule:tagged"
    with pytest.raises(InvalidInputError):
        schedule_service.create_schedule(rt, {"name": "bad", "pipeline": "chatty", "every": 60, "tags": ["a b"]})
    updated = schedule_service.update_schedule(rt, "tagged", {"tags": ["weekly", "team:x"]})
    assert updated["config"]["tags"] == ["weekly", "team:x"]
    from pypeline.config import load_config_text

    config = load_config_text("""
pipelines:
  p:
    name: p
    config:
      dagAdjacency: {a: []}
      taskDefinitions: {a: {handler: tests.ops.handlers.fails}}
scheduledTasks:
  s:
    name: s
    config: {pipeline: p, schedule: {every: 5, period: minutes}, tags: [from-config]}
""", check_handlers=False)
    assert spec_from_config(config.schedules["s"]).tags == ("from-config",)


def test_cli_run_tags_and_list_filters(ops_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from click.testing import CliRunner

    from pypeline.cli import cli
    from pypeline.settings import get_settings

    rt = ops_runtime()
    monkeypatch.setenv("PYPELINE_HOME", str(rt.settings.home))
    get_settings(refresh=True)
    try:
        db = ["--database", rt.settings.resolved_database_url]
        result = CliRunner().invoke(cli, ["run", str(rt.settings.config_path), "chatty", "--payload",
                                          '{"marker": "cli", "lines": 1}', "--tag", "manual", "--json", *db])
        assert result.exit_code == 0, result.output
        invoke_service.invoke(rt, "chatty", {"marker": "api"}, origin="api")
        listed = CliRunner().invoke(cli, ["runs", "list", "--tag", "manual", "--origin", "cli", "--json", *db])
        assert listed.exit_code == 0, listed.output
        items = json.loads(listed.output)["items"]
        assert len(items) == 1 and items[0]["tags"] == ["manual"] and items[0]["status"] == "SUCCESS"
        shown = CliRunner().invoke(cli, ["runs", "show", items[0]["id"], "--json", *db])
        assert json.loads(shown.output)["nodes"][0]["logs"].endswith("/logs?node=talk")
        bad = CliRunner().invoke(cli, ["runs", "list", "--created-after", "soon", *db])
        assert bad.exit_code == 1 and "ISO 8601" in bad.output
    finally:
        monkeypatch.undo()
        get_settings(refresh=True)

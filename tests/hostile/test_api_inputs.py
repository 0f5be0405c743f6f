"""Hostile HTTP requests: every one gets a clean JSON 4xx in under 2 s and changes nothing in the store."""
from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from tests.api.support import ApiStack

pytestmark = pytest.mark.hostile

#: Bodies the issue's table lists (and relatives): none may reach a view, all are 400 `bad_request`.
HOSTILE_BODIES: dict[str, str] = {
    "nan": '{"chain_payload": {"x": NaN}}',
    "infinity": '{"chain_payload": {"x": Infinity}}',
    "minus_infinity": '{"name": "e", "data": -Infinity}',
    "float_overflow": '{"chain_payload": {"x": 1e999}}',
    "integer_5000_digits": '{"chain_payload": {"count": ' + "9" * 5000 + "}}",
    "nesting_10000": '{"chain_payload": ' + "[" * 10_000 + "]" * 10_000 + "}",
    "nesting_65": '{"chain_payload": ' + "[" * 65 + "]" * 65 + "}",
    "nul_in_value": '{"name": "a\\u0000b", "data": "x\\u0000"}',
    "nul_in_key": '{"chain_payload": {"a\\u0000": 1}}',
    "lone_surrogate_bytes": '{"name": "\xed\xa0\x80"}',
}

#: Every operation with a JSON body.
BODY_ROUTES = [
    ("POST", "/api/v1/pipelines/invoke/demo"),
    ("POST", "/api/v1/pipelines/demo/invoke"),
    ("POST", "/api/v1/runs/{run}/events"),
    ("POST", "/api/v1/schedules/"),
    ("PATCH", "/api/v1/schedules/{schedule}"),
    ("POST", "/api/v1/batches/demo-files/start"),
    ("POST", "/api/v1/batch-runs/{run}/resume"),
]


def _snapshot(stack: ApiStack) -> dict[str, int]:
    """Row count of every table of the store (keys' last-use stamps change no count)."""
    engine = sa.create_engine(str(stack.rt.settings.database_url))
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            return {t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def targets(pg_module_stack: ApiStack) -> dict[str, str]:
    """A queued run and a schedule to aim requests at."""
    s = pg_module_stack
    run = s.client.post("/api/v1/pipelines/demo/invoke", json={"chain_payload": {"count": 1}}, headers=s.w)
    assert run.status_code == 202, run.json
    schedule = s.client.post("/api/v1/schedules/", headers=s.w, json={
        "name": "hostile", "config": {"pipeline": "demo", "payload": {"count": 1},
                                      "schedule": {"every": 3600, "period": "seconds"}}})
    assert schedule.status_code == 201, schedule.json
    return {"run": run.json["run_id"], "schedule": schedule.json["id"]}


def _call(stack: ApiStack, method: str, url: str, **kwargs: Any) -> Any:
    start = time.perf_counter()
    resp = stack.client.open(url, method=method, headers=stack.w, **kwargs)
    took = time.perf_counter() - start
    assert took < 2.0, f"{method} {url}: {took:.2f} s"
    assert resp.is_json, resp.get_data(as_text=True)[:300]
    assert set(resp.json) >= {"code", "message"} and isinstance(resp.json["message"], str)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    return resp


@pytest.mark.parametrize("body", sorted(HOSTILE_BODIES))
def test_hostile_json_bodies_are_400_on_every_body_route(pg_module_stack: ApiStack, targets: dict[str, str],
                                                          body: str) -> None:
    s = pg_module_stack
    before = _snapshot(s)
    for method, template in BODY_ROUTES:
        url = template.format(**targets)
        data = HOSTILE_BODIES[body]
        raw = data.encode("latin-1") if body == "lone_surrogate_bytes" else data.encode()
        resp = _call(s, method, url, data=raw, content_type="application/json")
        assert resp.status_code == 400 and resp.json["code"] == "bad_request", (method, url, resp.json)
        assert "invalid JSON body" in resp.json["message"]
    assert _snapshot(s) == before


@pytest.mark.parametrize(("method", "template"), [
    ("GET", "/api/v1/runs/{bad}"),
    ("GET", "/api/v1/runs/{bad}/events"),
    ("POST", "/api/v1/runs/{bad}/cancel"),
    ("GET", "/api/v1/pipelines/results/{bad}"),
    ("GET", "/api/v1/pipelines/{bad}"),
    ("POST", "/api/v1/pipelines/{bad}/invoke"),
    ("GET", "/api/v1/schedules/{bad}"),
    ("POST", "/api/v1/schedules/{bad}/disable"),
    ("DELETE", "/api/v1/schedules/{bad}"),
    ("GET", "/api/v1/batch-runs/{bad}"),
    ("GET", "/api/v1/batch-runs/{bad}/chunks"),
    ("POST", "/api/v1/batches/{bad}/start"),
])
@pytest.mark.parametrize("bad", ["%00", "abc%00def", "%0A", "%7F", "x" * 300])
def test_malformed_ids_are_404(pg_module_stack: ApiStack, method: str, template: str, bad: str) -> None:
    s = pg_module_stack
    before = _snapshot(s)
    resp = _call(s, method, template.format(bad=bad))
    assert resp.status_code == 404 and resp.json["code"] == "not_found", resp.json
    assert _snapshot(s) == before


@pytest.mark.parametrize("query", [
    "/api/v1/runs/?pipeline_id=%00", "/api/v1/runs/?pipeline_id=demo%00", "/api/v1/runs/?status=%00",
    "/api/v1/runs/?limit=%00", "/api/v1/runs/?x%00=1", "/api/v1/batch-runs/?batch_id=%00",
    "/api/v1/batch-runs/?status=RUNNING%0A", "/api/v1/schedules/{schedule}/fires?limit=%00",
    "/api/v1/batch-runs/{run}/chunks?offset=%1B",
])
def test_control_characters_in_query_values_are_422(pg_module_stack: ApiStack, targets: dict[str, str],
                                                    query: str) -> None:
    resp = _call(pg_module_stack, "GET", query.format(**targets))
    assert resp.status_code == 422 and resp.json["code"] == "validation_error", resp.json
    assert resp.json["errors"]["query"]


@pytest.mark.parametrize("query", ["?limit=99999999999999999999999999", "?offset=-1", "?limit=1e3",
                                   "?status=bogus", "?pipeline_id=" + "p" * 300])
def test_out_of_range_query_values_are_422(pg_module_stack: ApiStack, query: str) -> None:
    resp = _call(pg_module_stack, "GET", "/api/v1/runs/" + query)
    assert resp.status_code == 422, resp.json


def test_run_events_only_for_the_runs_nodes_and_unfinished_runs(pg_module_stack: ApiStack,
                                                                 targets: dict[str, str]) -> None:
    s = pg_module_stack
    run_id = targets["run"]
    url = f"/api/v1/runs/{run_id}/events"
    before = _snapshot(s)
    unknown = _call(s, "POST", url, json={"name": "note", "node": "not-a-node"})
    assert unknown.status_code == 400 and unknown.json["code"] == "invalid_input"
    assert "not-a-node" in unknown.json["message"]
    assert _snapshot(s) == before

    ok = s.client.post(url, json={"name": "note", "node": "fetch", "data": {"n": 1}}, headers=s.w)
    assert ok.status_code == 201, ok.json
    plain = s.client.post(url, json={"name": "plain"}, headers=s.w)
    assert plain.status_code == 201, plain.json

    other = s.client.post("/api/v1/pipelines/diamond/invoke", json={}, headers=s.w).json["run_id"]
    assert s.client.post(f"/api/v1/runs/{other}/cancel", headers=s.w).status_code == 200
    before = _snapshot(s)
    finished = _call(s, "POST", f"/api/v1/runs/{other}/events", json={"name": "late"})
    assert finished.status_code == 409 and finished.json["code"] == "invalid_transition"
    assert _snapshot(s) == before
    names = [e["name"] for e in s.client.get(f"/api/v1/runs/{other}/events", headers=s.r).json]
    assert "late" not in names


def test_api_answers_are_not_sniffable(pg_module_stack: ApiStack) -> None:
    s = pg_module_stack
    for url in ("/api/v1/pipelines/", "/api/v1/nope", "/api/v1/health"):
        assert s.client.get(url, headers=s.r).headers["X-Content-Type-Options"] == "nosniff"

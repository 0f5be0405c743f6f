"""Endpoints end to end: a real `pypeline worker` runs what the API invokes; results read back over HTTP."""
from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.support import ApiStack
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e
EXPECTED_DEMO = {"load": {"inputs": ["clean", "enrich"], "kept": 2, "total": 60}}


def _wait_result(stack: ApiStack, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll the original's results route until it answers 200 (finished)."""
    def _finished() -> dict[str, Any] | None:
        resp = stack.client.get(f"/api/v1/pipelines/results/{run_id}", headers=stack.r)
        assert resp.status_code in (200, 202), resp.json
        if resp.status_code == 200:
            return resp.json
        assert resp.json["status"] == "pending" and resp.json["result"] is None
        return None

    return wait_until(_finished, timeout, interval=0.1, message=f"run {run_id} finished")


def test_invoke_and_read_results_through_the_api(live_stack: ApiStack) -> None:
    s = live_stack
    resp = s.client.post("/api/v1/pipelines/invoke/demo", json={"chain_payload": {"count": 4}}, headers=s.w)
    assert resp.status_code == 202, resp.json
    body = resp.json
    assert body["pipeline_id"] == "demo" and body["status"] == "success"
    assert body["execution_id"] == body["run_id"] and body["run_status"] == "RUNNING"

    result = _wait_result(s, body["run_id"])
    assert result["status"] == "success" and result["run_status"] == "SUCCESS"
    assert result["result"] == EXPECTED_DEMO
    assert set(result["results"]) == {"fetch", "clean", "enrich", "load"}
    assert result["results"]["enrich"] == {"total": 60}

    run = s.client.get(f"/api/v1/runs/{body['run_id']}", headers=s.r).json
    assert run["status"] == "SUCCESS" and run["origin"] == "api" and run["payload"] == {"count": 4}
    nodes = {n["node"]: n for n in run["nodes"]}
    assert set(nodes) == {"fetch", "clean", "enrich", "load"}
    assert all(n["status"] == "SUCCESS" and n["duration"] is not None and n["started_at"] for n in nodes.values())

    page = s.client.get("/api/v1/runs/?pipeline_id=demo&status=SUCCESS&limit=1", headers=s.r).json
    assert page["total"] == 1 and page["items"][0]["id"] == body["run_id"] and page["limit"] == 1
    assert "nodes" not in page["items"][0]


def test_failure_retry_events_and_metrics(live_stack: ApiStack) -> None:
    s = live_stack
    run_id = s.client.post("/api/v1/pipelines/failing/invoke", json={}, headers=s.w).json["run_id"]
    result = _wait_result(s, run_id)
    assert result["status"] == "failed" and result["run_status"] == "FAILED"
    assert "boom" in result["status_message"]
    run = s.client.get(f"/api/v1/runs/{run_id}", headers=s.r).json
    states = {n["node"]: n["status"] for n in run["nodes"]}
    assert states == {"start": "SUCCESS", "boom": "FAILED", "side": "SUCCESS", "never": "SKIPPED"}
    boom = next(n for n in run["nodes"] if n["node"] == "boom")
    assert "always fails" in boom["error"] and boom["attempts"] >= 1

    # Retry from failure: only boom (and its skipped child) run again, in attempt 2.
    retried = s.client.post(f"/api/v1/runs/{run_id}/retry", headers=s.w)
    assert retried.status_code == 200, retried.json
    assert retried.json["attempt"] == 2
    again = _wait_result(s, run_id)
    assert again["run_status"] == "FAILED"
    run = s.client.get(f"/api/v1/runs/{run_id}", headers=s.r).json
    assert run["attempt"] == 2
    assert next(n for n in run["nodes"] if n["node"] == "start")["attempts"] == 1  # not re-run

    # A finished run takes no new events (docs/api.md): 409, and nothing is recorded.
    added = s.client.post(f"/api/v1/runs/{run_id}/events", json={"name": "note", "data": {"by": "test"}},
                          headers=s.w)
    assert added.status_code == 409 and added.json["code"] == "invalid_transition"
    events = s.client.get(f"/api/v1/runs/{run_id}/events", headers=s.r).json
    names = [e["name"] for e in events]
    assert "retried" in names and "note" not in names

    # Retrying a finished, successful run is a conflict, not a server error.
    ok_id = s.client.post("/api/v1/pipelines/diamond/invoke", json={}, headers=s.w).json["run_id"]
    _wait_result(s, ok_id)
    conflict = s.client.post(f"/api/v1/runs/{ok_id}/retry", headers=s.w)
    assert conflict.status_code == 409 and conflict.json["code"] == "invalid_transition"

    text = s.client.get("/api/v1/metrics", headers=s.r).get_data(as_text=True)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    runs = {(m.labels["pipeline"], m.labels["status"]): m.value for m in families["pypeline_runs"].samples}
    assert runs[("failing", "FAILED")] == 1 and runs[("diamond", "SUCCESS")] == 1
    hist = families["pypeline_node_duration_seconds"].samples
    count = {(m.labels["pipeline"], m.labels["node"]): m.value for m in hist if m.name.endswith("_count")}
    assert count[("diamond", "a")] == 1 and count[("failing", "boom")] == 1
    inf = [m for m in hist if m.name.endswith("_bucket") and m.labels["le"] == "+Inf"
           and m.labels["node"] == "c" and m.labels["pipeline"] == "diamond"]
    assert inf and inf[0].value == 1

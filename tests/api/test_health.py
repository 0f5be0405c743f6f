"""Health (no key), readiness (broker + database) and Prometheus metrics (read key)."""
from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.api.support import ApiStack, make_api_stack


def test_health_and_readiness_need_no_key(module_stack: ApiStack) -> None:
    health = module_stack.client.get("/api/v1/health")
    assert health.status_code == 200 and health.json["status"] == "ok" and health.json["version"]
    ready = module_stack.client.get("/api/v1/ready")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "checks": {"broker": {"ok": True}, "database": {"ok": True}}}


def test_readiness_reports_a_dead_broker_without_leaking_passwords(tmp_path: Path) -> None:
    dead = make_api_stack(tmp_path, "redis://:hunter2@127.0.0.1:1/0", f"sqlite:///{tmp_path / 's.sqlite'}")
    resp = dead.client.get("/api/v1/ready")
    assert resp.status_code == 503 and resp.json["status"] == "unavailable"
    assert resp.json["checks"]["database"] == {"ok": True}
    broker = resp.json["checks"]["broker"]
    assert broker["ok"] is False and broker["error"] and "hunter2" not in resp.get_data(as_text=True)
    assert dead.client.get("/api/v1/health").status_code == 200  # alive, just not ready


def test_metrics_need_a_key_and_count_runs(module_stack: ApiStack) -> None:
    s = module_stack
    assert s.client.get("/api/v1/metrics").status_code == 401
    for _ in range(2):
        assert s.client.post("/api/v1/pipelines/diamond/invoke", json={}, headers=s.w).status_code == 202
    resp = s.client.get("/api/v1/metrics", headers=s.r)
    assert resp.status_code == 200 and resp.content_type.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(resp.get_data(as_text=True))}
    assert {"pypeline_runs", "pypeline_node_runs", "pypeline_node_duration_seconds"} <= set(families)
    runs = {(m.labels["pipeline"], m.labels["status"]): m.value for m in families["pypeline_runs"].samples}
    assert runs[("diamond", "RUNNING")] >= 2
    nodes = {(m.labels["pipeline"], m.labels["status"]): m.value for m in families["pypeline_node_runs"].samples}
    assert nodes[("diamond", "QUEUED")] >= 2 and nodes[("diamond", "PENDING")] >= 4

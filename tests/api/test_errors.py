"""Errors: JSON {"code", "message"} with the right 4xx status, and nothing written on a rejected request."""
from __future__ import annotations

import pytest

from tests.api.support import ApiStack


def _runs(stack: ApiStack) -> int:
    return stack.rt.store.list_runs()[1]


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"data": "{not json", "content_type": "application/json"}, 400, "bad_request"),
    ({"json": [1, 2]}, 422, "validation_error"),
    ({"json": {"chain_payload": {}, "unexpected": 1}}, 422, "validation_error"),
    ({"json": {"chain_payload": {"count": "three"}}}, 400, "invalid_input"),
    ({"json": {"chain_payload": {"count": -1}}}, 400, "invalid_input"),
    ({"json": {"chain_payload": {"other": 1}}}, 400, "invalid_input"),
    ({"data": "chain_payload=1", "content_type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    ({"data": "x" * 2_000_000, "content_type": "application/json"}, 413, "payload_too_large"),
])
def test_bad_invoke_bodies_are_4xx_and_write_nothing(module_stack: ApiStack, kwargs: dict, status: int,
                                                     code: str) -> None:
    s = module_stack
    before = _runs(s)
    for url in ("/api/v1/pipelines/invoke/demo", "/api/v1/pipelines/demo/invoke"):
        resp = s.client.post(url, headers=s.w, **kwargs)
        assert resp.status_code == status, resp.get_data(as_text=True)[:300]
        assert resp.json["code"] == code and isinstance(resp.json["message"], str)
    assert _runs(s) == before


def test_oversized_limit_follows_settings(tmp_path, redis_url: str) -> None:
    from tests.api.support import make_api_stack

    s = make_api_stack(tmp_path, redis_url, f"sqlite:///{tmp_path / 's.sqlite'}", max_payload_bytes=200)
    body = {"chain_payload": {"count": 1}, "pad": "x" * 300}
    resp = s.client.post("/api/v1/pipelines/demo/invoke", json=body, headers=s.w)
    assert resp.status_code == 413 and resp.json["code"] == "payload_too_large"
    assert s.client.post("/api/v1/pipelines/demo/invoke", json={"chain_payload": {"count": 1}},
                         headers=s.w).status_code == 202


def test_unknown_ids_are_404(module_stack: ApiStack) -> None:
    s = module_stack
    before = _runs(s)
    checks = [
        ("POST", "/api/v1/pipelines/invoke/nope"), ("POST", "/api/v1/pipelines/nope/invoke"),
        ("GET", "/api/v1/pipelines/nope"), ("GET", "/api/v1/pipelines/results/nope"),
        ("GET", "/api/v1/runs/nope"), ("GET", "/api/v1/runs/nope/events"), ("POST", "/api/v1/runs/nope/events"),
        ("POST", "/api/v1/runs/nope/cancel"), ("POST", "/api/v1/runs/nope/retry"),
        ("POST", "/api/v1/runs/nope/pause"), ("POST", "/api/v1/runs/nope/resume"),
        ("GET", "/api/v1/no/such/route"),
    ]
    for method, url in checks:
        body = {"name": "x"} if url.endswith("/events") and method == "POST" else {}
        resp = s.client.open(url, method=method, json=body, headers=s.w)
        assert resp.status_code == 404, (method, url, resp.status_code, resp.get_data(as_text=True)[:200])
        assert resp.json["code"] == "not_found"
    assert _runs(s) == before


def test_method_not_allowed_is_json(module_stack: ApiStack) -> None:
    resp = module_stack.client.delete("/api/v1/pipelines/", headers=module_stack.w)
    assert resp.status_code == 405 and resp.json["code"] == "method_not_allowed"
    assert "GET" in resp.headers["Allow"]


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "offset=-1", "status=bogus", "limit=abc"])
def test_bad_run_queries_are_422(module_stack: ApiStack, query: str) -> None:
    resp = module_stack.client.get(f"/api/v1/runs/?{query}", headers=module_stack.r)
    assert resp.status_code == 422 and resp.json["code"] == "validation_error" and resp.json["errors"]


def test_run_control_without_worker(module_stack: ApiStack) -> None:
    """Pause, resume and cancel a run that no worker picks up; wrong transitions are 409."""
    s = module_stack
    run_id = s.client.post("/api/v1/pipelines/demo/invoke", json={"chain_payload": {"count": 1}},
                           headers=s.w).json["run_id"]
    assert s.client.post(f"/api/v1/runs/{run_id}/resume", headers=s.w).status_code == 409
    paused = s.client.post(f"/api/v1/runs/{run_id}/pause", headers=s.w)
    assert paused.status_code == 200 and paused.json["status"] == "PAUSED"
    assert s.client.post(f"/api/v1/runs/{run_id}/resume", headers=s.w).json["status"] == "RUNNING"
    cancelled = s.client.post(f"/api/v1/runs/{run_id}/cancel", headers=s.w)
    assert cancelled.status_code == 200 and cancelled.json["status"] == "CANCELLED"
    again = s.client.post(f"/api/v1/runs/{run_id}/cancel", headers=s.w)
    assert again.status_code == 409 and again.json["code"] == "invalid_transition"
    result = s.client.get(f"/api/v1/pipelines/results/{run_id}", headers=s.r)
    assert result.status_code == 200 and result.json["status"] == "cancelled"
    names = [e["name"] for e in s.client.get(f"/api/v1/runs/{run_id}/events", headers=s.r).json]
    assert names == ["paused", "resumed", "cancelled"]


def test_bad_event_bodies(module_stack: ApiStack) -> None:
    s = module_stack
    run_id = s.client.post("/api/v1/pipelines/diamond/invoke", json={}, headers=s.w).json["run_id"]
    for body in ({}, {"name": ""}, {"name": "x" * 201}, {"name": 5}, {"name": "ok", "extra": 1}):
        resp = s.client.post(f"/api/v1/runs/{run_id}/events", json=body, headers=s.w)
        assert resp.status_code == 422, body
    assert s.client.get(f"/api/v1/runs/{run_id}/events", headers=s.r).json == []

"""Batches over HTTP with a real worker: start a declared batch, follow it to the end, list chunks, control it."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.api.support import ApiStack, make_api_stack
from tests.helpers import WorkerProcess, poll_until

pytestmark = pytest.mark.e2e


def _with_batch(files: Path) -> Callable[[dict, str], None]:
    def edit(doc: dict[str, Any], queue: str) -> None:
        doc["pipelines"]["chunked"] = {
            "name": "chunked", "schemaVersion": 1,
            "config": {"metadata": {"queue": queue, "maxRetry": 0},
                       "dagAdjacency": {"process": []},
                       "taskDefinitions": {"process": {"handler": "pypeline_examples.demo.heartbeat"}}}}
        doc["batches"] = {"files": {"pipeline": "chunked", "chunkSize": 2, "concurrency": 2,
                                    "generator": {"type": "local", "path": str(files)}}}
    return edit


@pytest.fixture()
def batch_stack(tmp_path: Path, redis_url: str, postgres_url: str,
                start_worker: Callable[..., WorkerProcess]) -> ApiStack:
    files = tmp_path / "files"
    files.mkdir()
    for i in range(5):
        (files / f"f{i}.txt").write_text("x" * (i + 1))
    stack = make_api_stack(tmp_path, redis_url, postgres_url, edit=_with_batch(files))
    stack.start_worker(start_worker, "-c", "4", "-P", "threads")
    return stack


def _wait_batch(stack: ApiStack, batch_run_id: str, timeout: float = 60.0) -> dict[str, Any]:
    return poll_until(lambda: stack.client.get(f"/api/v1/batch-runs/{batch_run_id}", headers=stack.r).json,
                      lambda doc: doc["terminal"], timeout, interval=0.2, message=f"batch run {batch_run_id} finished")


def test_start_follow_and_control_a_batch(batch_stack: ApiStack) -> None:
    s = batch_stack
    declared = s.client.get("/api/v1/batches/", headers=s.r).json
    assert [b["id"] for b in declared] == ["files"] and declared[0]["chunkSize"] == 2

    for overrides in ({"chunkSize": 0}, {"unknown": 1}, {"generator": {"path": "/nonexistent"}}):
        bad = s.client.post("/api/v1/batches/files/start", json={"overrides": overrides}, headers=s.w)
        assert bad.status_code == 400 and bad.json["code"] == "invalid_input", (overrides, bad.json)
    assert s.client.get("/api/v1/batch-runs/", headers=s.r).json["total"] == 0  # nothing written

    started = s.client.post("/api/v1/batches/files/start", json={"batch_run_id": "b-1"}, headers=s.w)
    assert started.status_code == 202, started.json
    assert started.json["id"] == "b-1" and started.json["status"] == "RUNNING"
    assert "driver_token" not in started.json
    again = s.client.post("/api/v1/batches/files/start", json={"batch_run_id": "b-1"}, headers=s.w)
    assert again.status_code == 202 and again.json["id"] == "b-1"  # same id: started once

    done = _wait_batch(s, "b-1")
    assert done["status"] == "SUCCESS" and done["keys_listed"] == 5 and done["chunks_succeeded"] == 3
    chunks = s.client.get("/api/v1/batch-runs/b-1/chunks", headers=s.r).json
    assert [c["key_count"] for c in chunks] == [2, 2, 1] and all(c["status"] == "SUCCESS" for c in chunks)
    run = s.client.get(f"/api/v1/runs/{chunks[0]['run_id']}", headers=s.r).json
    assert run["origin"] == "batch:b-1" and run["status"] == "SUCCESS"

    page = s.client.get("/api/v1/batch-runs/?batch_id=files&status=SUCCESS", headers=s.r).json
    assert page["total"] == 1 and page["items"][0]["id"] == "b-1"
    stop = s.client.post("/api/v1/batch-runs/b-1/stop", headers=s.w)
    assert stop.status_code == 409 and stop.json["code"] == "invalid_transition"

    # A stopped batch resumes from its cursor under a worker driver.
    second = s.client.post("/api/v1/batches/files/start", json={"overrides": {"chunkSize": 1, "concurrency": 1}},
                           headers=s.w).json
    stopped = s.client.post(f"/api/v1/batch-runs/{second['id']}/stop", headers=s.w)
    assert stopped.status_code == 200 and stopped.json["status"] in ("PAUSED", "SUCCESS")
    if stopped.json["status"] == "PAUSED":
        resumed = s.client.post(f"/api/v1/batch-runs/{second['id']}/resume", json={}, headers=s.w)
        assert resumed.status_code == 202 and resumed.json["status"] == "RUNNING"
    final = _wait_batch(s, second["id"])
    assert final["status"] == "SUCCESS" and final["keys_listed"] == 5 and final["chunks_created"] == 5


def test_batch_errors(module_stack: ApiStack) -> None:
    s = module_stack
    assert s.client.post("/api/v1/batches/nope/start", json={}, headers=s.w).status_code == 404
    assert s.client.post("/api/v1/batches/nope/start", json={}, headers=s.r).status_code == 403
    assert s.client.get("/api/v1/batch-runs/nope", headers=s.r).status_code == 404
    assert s.client.get("/api/v1/batch-runs/nope/chunks", headers=s.r).status_code == 404
    assert s.client.post("/api/v1/batch-runs/nope/resume", json={}, headers=s.w).status_code == 404
    bad = s.client.post("/api/v1/batches/x/start", json={"overrides": [1]}, headers=s.w)
    assert bad.status_code == 422
    assert s.client.get("/api/v1/batch-runs/?status=nope", headers=s.r).status_code == 422
    assert s.client.get("/api/v1/batch-runs/", headers=s.r).json["total"] == 0

"""maxActiveRuns: runs beyond the limit are queued (started in order), skipped or refused; slots are race-free."""
from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from pypeline.errors import ConcurrencyLimitError
from pypeline.runtime import Runtime
from pypeline.services import invoke as invoke_service
from pypeline.services import runs as run_service
from pypeline.status import Status
from pypeline.store.admission import reserve_run
from tests.helpers import wait_until
from tests.ops import handlers


def test_queue_starts_waiting_runs_in_order_when_a_slot_frees(ops_runtime: Callable[..., Runtime]) -> None:
    rt = ops_runtime()
    handlers.RELEASE.clear()
    with rt.embedded_worker(concurrency=3):
        first = invoke_service.invoke(rt, "limited", tags=["t"])
        second = invoke_service.invoke(rt, "limited")
        third = invoke_service.invoke(rt, "limited")
        assert [rt.store.run_status(r) for r in (first, second, third)] == [
            Status.RUNNING, Status.QUEUED, Status.QUEUED]
        assert run_service.get_run(rt, first)["tags"] == ["t"]
        assert run_service.list_runs(rt, pipeline_id="limited", status="QUEUED")[1] == 2
        run_service.cancel_run(rt, third)  # a queued run can be cancelled before it starts
        handlers.RELEASE.set()
        assert rt.wait(first, 30)["status"] == "SUCCESS"
        assert rt.wait(second, 30)["status"] == "SUCCESS"
    assert rt.store.run_status(third) is Status.CANCELLED
    a, b = rt.store.get_run(first), rt.store.get_run(second)
    assert b["started_at"] >= a["finished_at"]  # never two at once


def test_skip_records_a_skipped_run_and_fail_refuses(ops_runtime: Callable[..., Runtime]) -> None:
    rt = ops_runtime()
    handlers.RELEASE.clear()
    running = invoke_service.invoke(rt, "limited_skip")  # no worker: it stays RUNNING and holds the slot
    skipped = invoke_service.invoke(rt, "limited_skip")
    record = rt.store.get_run(skipped)
    assert record["status"] == "SKIPPED" and "maxActiveRuns is 1" in record["error"] and record["terminal"]
    assert rt.store.run_status(running) is Status.RUNNING
    invoke_service.invoke(rt, "limited_fail")
    with pytest.raises(ConcurrencyLimitError):
        invoke_service.invoke(rt, "limited_fail", run_id="refused")
    assert run_service.list_runs(rt, pipeline_id="limited_fail")[1] == 1  # nothing written for the refusal


def test_concurrent_reservations_never_exceed_the_limit(ops_runtime: Callable[..., Runtime]) -> None:
    rt = ops_runtime()
    results: list[Status] = []
    barrier = threading.Barrier(8)

    def reserve(i: int) -> None:
        barrier.wait()
        results.append(reserve_run(rt.store.engine, run_id=f"r{i}", pipeline_id="limited", engine_name="event",
                                   payload={}, origin=None, tags=(), limit=2, on_limit="queue"))

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s.value for s in results) == ["PENDING"] * 2 + ["QUEUED"] * 6


def test_api_answers_409_when_the_limit_refuses(ops_runtime: Callable[..., Runtime]) -> None:
    from pypeline.api import create_app
    from pypeline.services import keys as key_service

    rt = ops_runtime()
    app = create_app(runtime=rt)
    client = app.test_client()
    headers = {"accesskey": key_service.create_key(rt, "w", "write").token}
    assert client.post("/api/v1/pipelines/limited_fail/invoke", json={}, headers=headers).status_code == 202
    resp = client.post("/api/v1/pipelines/limited_fail/invoke", json={}, headers=headers)
    assert resp.status_code == 409 and resp.get_json()["code"] == "conflict"
    resp = client.post("/api/v1/pipelines/limited/invoke", json={}, headers=headers)
    assert resp.status_code == 202 and resp.get_json()["run_status"] == "RUNNING"
    resp = client.post("/api/v1/pipelines/limited/invoke", json={}, headers=headers)
    assert resp.status_code == 202 and resp.get_json()["run_status"] == "QUEUED"


def test_sweep_starts_a_queued_run_whose_wake_up_was_lost(ops_runtime: Callable[..., Runtime]) -> None:
    rt = ops_runtime()
    handlers.RELEASE.set()
    first = invoke_service.invoke(rt, "limited")
    queued = invoke_service.invoke(rt, "limited")
    assert rt.store.run_status(queued) is Status.QUEUED
    run_service.cancel_run(rt, first)  # ends the first run; its wake-up starts the queued one
    wait_until(lambda: rt.store.run_status(queued).value == "RUNNING", interval=0.02,
               report=lambda: f"run {queued} is {rt.store.run_status(queued)}")
    rt.store.cancel_run(queued)  # the store only: no wake-up at all
    lost = invoke_service.invoke(rt, "limited")
    later = invoke_service.invoke(rt, "limited")
    assert rt.store.run_status(lost) is Status.RUNNING and rt.store.run_status(later) is Status.QUEUED
    rt.store.cancel_run(lost)
    assert rt.store.run_status(later) is Status.QUEUED
    assert rt.launcher.sweep() == [later]
    assert rt.store.run_status(later) is Status.RUNNING


def test_scheduled_fires_respect_the_limit(ops_runtime: Callable[..., Runtime]) -> None:
    from pypeline.errors import PypelineError
    from pypeline.scheduler.dispatch import Dispatcher, message_id
    from pypeline.scheduler.spec import parse_schedule
    from pypeline.store.models import utcnow

    rt = ops_runtime()
    dispatcher = Dispatcher(rt)
    skip = parse_schedule({"name": "s", "pipeline": "limited_skip", "every": 60})
    first, second = message_id("s", utcnow()), message_id("s", utcnow())
    dispatcher.send("s", skip, first)
    dispatcher.send("s", skip, second)  # the nightly run is still going: this fire is recorded as skipped
    assert (rt.store.run_status(first), rt.store.run_status(second)) == (Status.RUNNING, Status.SKIPPED)
    assert rt.store.get_run(second)["origin"] == "schedule:s"
    refuse = parse_schedule({"name": "f", "pipeline": "limited_fail", "every": 60})
    dispatcher.send("f", refuse, message_id("f", utcnow()))
    with pytest.raises(PypelineError):  # beat records such a fire as failed, for good
        dispatcher.send("f", refuse, message_id("f", utcnow()))


def test_results_route_reports_a_skipped_run_as_finished(ops_runtime: Callable[..., Runtime]) -> None:
    from pypeline.api import create_app
    from pypeline.services import keys as key_service

    rt = ops_runtime()
    client = create_app(runtime=rt).test_client()
    headers = {"accesskey": key_service.create_key(rt, "w", "write").token}
    invoke_service.invoke(rt, "limited_skip")
    skipped = invoke_service.invoke(rt, "limited_skip")
    resp = client.get(f"/api/v1/pipelines/results/{skipped}", headers=headers)
    body = resp.get_json()
    assert resp.status_code == 200 and body["status"] == "cancelled" and body["run_status"] == "SKIPPED"
    assert "maxActiveRuns" in body["status_message"]

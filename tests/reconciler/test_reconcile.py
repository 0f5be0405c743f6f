"""Reconciler passes in this process (embedded broker, SQLite): a dead worker's node is re-run and completes
once, a lost message is re-published only when its queue is empty, maxRunTtl fails an overrunning run."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from celery.exceptions import Retry
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from pypeline.config import load_config
from pypeline.reconciler import Reconciler
from pypeline.reconciler.worker import ReconcilerLoop
from pypeline.runtime import Runtime
from pypeline.settings import Settings
from pypeline.store import leases
from pypeline.store.models import NodeRun, utcnow
from pypeline.store.repository import NodeSpec
from tests.helpers import unique_queue_config, wait_until

PIPELINES = Path(__file__).parent / "pipelines.yaml"


def _runtime(tmp_path: Path, **overrides: object) -> Runtime:
    config, _ = unique_queue_config(tmp_path, PIPELINES)
    settings = Settings.from_env().with_overrides(reconciler_enabled=False, **overrides)
    return Runtime(load_config(config), settings)


def _create(rt: Runtime, run_id: str, pipeline: str = "chain", payload: dict | None = None) -> None:
    """A run whose root is QUEUED but whose message was never published."""
    dag = rt.dag(pipeline)
    specs = [NodeSpec(n, dag.node(n).handler, dag.node(n).queue, len(dag.predecessors(n))) for n in dag.nodes]
    rt.store.create_run(run_id, pipeline, specs, leaves=dag.leaves, payload=payload or {})


def _lines(trace: Path) -> list[str]:
    return trace.read_text().splitlines() if trace.exists() else []


def test_dead_workers_node_is_requeued_and_completes_once(pypeline_home: Path, tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    trace = tmp_path / "trace"
    _create(rt, "r-dead", payload={"trace": str(trace), "sleep": 0})
    assert rt.store.claim_node("r-dead", "a", "task-of-a-dead-worker").claimed  # it died before running a
    reconciler = Reconciler(rt)
    assert reconciler.run_once().empty  # its lease is live: nothing to do yet
    with rt.store.engine.begin() as conn:  # ... until the lease runs out without a heartbeat
        conn.execute(update(NodeRun.__table__).where(NodeRun.__table__.c.run_id == "r-dead")
                     .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    with rt.embedded_worker():
        report = reconciler.run_once()
        assert report.expired == {"r-dead": ["a"]} and report.overdue == {}
        run = rt.wait("r-dead", 30)
    assert run["status"] == "SUCCESS"
    assert _lines(trace) == ["a ran", "b start", "b end", "c ran"]  # every handler once
    nodes = {n["node"]: n for n in rt.store.node_runs("r-dead")}
    assert nodes["a"]["attempts"] == 2 and all(n["status"] == "SUCCESS" for n in nodes.values())
    assert nodes["a"]["lease_holder"] is not None
    recovered = rt.store.events("r-dead", "recovered")
    assert recovered[0]["data"] == {"nodes": ["a"], "reason": "lease expired (worker gone)"}
    assert reconciler.run_once().empty  # a finished run is left alone


def test_overdue_message_republished_only_when_its_queue_is_empty(pypeline_home: Path, tmp_path: Path) -> None:
    rt = _runtime(tmp_path, queued_overdue_seconds=0.0)
    trace = tmp_path / "trace"
    payload = {"trace": str(trace), "sleep": 0}
    _create(rt, "r-waiting", payload=payload)
    pipeline = rt.config.pipeline("chain")
    rt.engines["event"].dispatch(pipeline, "r-waiting", [("a", "")], payload)  # its message waits in the queue
    _create(rt, "r-lost", payload=payload)  # ... and this one's was lost
    reconciler = Reconciler(rt)
    assert reconciler.run_once().empty  # the queue holds a message: nothing is duplicated
    with rt.embedded_worker():
        assert rt.wait("r-waiting", 30)["status"] == "SUCCESS"
        wait_until(lambda: reconciler.run_once().overdue == {"r-lost": ["a"]})
        assert rt.wait("r-lost", 30)["status"] == "SUCCESS"
    assert sorted(_lines(trace)) == sorted(["a ran", "b start", "b end", "c ran"] * 2)


def test_max_run_ttl_fails_the_run_and_ignores_the_late_result(pypeline_home: Path, tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    trace = tmp_path / "trace"
    with rt.embedded_worker():
        run_id = rt.start_run("bounded", {"trace": str(trace), "sleep": 3})
        wait_until(lambda: _lines(trace) == ["nap start"])
        reconciler = Reconciler(rt)
        assert reconciler.run_once().timed_out == []  # not 2 s old yet
        wait_until(lambda: reconciler.run_once().timed_out == [run_id], timeout=10)
        run = rt.store.get_run(run_id)
    # Leaving the block waited for the handler: a threads pool cannot terminate it, so it ran to its end...
    assert _lines(trace) == ["nap start", "nap end"]
    assert run["status"] == "FAILED" and run["error"] == "run exceeded maxRunTtl of 2 s"
    assert run["failed_node"] == "nap"
    nodes = {n["node"]: n for n in rt.store.node_runs(run_id)}
    assert nodes["nap"]["status"] == "FAILED" and nodes["after"]["status"] == "SKIPPED"  # ... its result is dropped
    assert "after ran" not in _lines(trace)
    assert [e["name"] for e in rt.store.events(run_id)] == ["timed_out"]


def test_only_the_leader_reconciles(pypeline_home: Path, tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    first, second = ReconcilerLoop(rt, holder="w1"), ReconcilerLoop(rt, holder="w2")
    assert first.step() and not second.step()
    first.stop()  # a stopping leader hands over at once
    assert second.step() and not first.step()
    assert (first.passes, second.passes) == (1, 1)


def test_embedded_worker_reconciles_on_its_own(pypeline_home: Path, tmp_path: Path) -> None:
    """No extra process and no command: the worker's own reconciler re-publishes a lost message."""
    config, _ = unique_queue_config(tmp_path, PIPELINES)
    settings = Settings.from_env().with_overrides(reconcile_interval=0.2, queued_overdue_seconds=0.0)
    rt = Runtime(load_config(config), settings)
    assert settings.reconciler_enabled  # the default
    trace = tmp_path / "trace"
    _create(rt, "r-auto", payload={"trace": str(trace), "sleep": 0})
    with rt.embedded_worker():
        assert rt.wait("r-auto", 30)["status"] == "SUCCESS"
    assert _lines(trace) == ["a ran", "b start", "b end", "c ran"]
    assert [e["name"] for e in rt.store.events("r-auto")] == ["recovered"]


def test_dyrygent_duplicate_under_a_live_lease_is_deferred_not_failed(pypeline_home: Path, tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    dag = rt.dag("dchain")
    specs = [NodeSpec(n, dag.node(n).handler, dag.node(n).queue, len(dag.predecessors(n))) for n in dag.nodes]
    rt.store.create_run("r-dy", "dchain", specs, leaves=dag.leaves, payload={}, engine="dyrygent")
    assert rt.store.claim_node("r-dy", "a", "t-a").claimed  # the first copy runs under a live lease
    task = rt.celery.tasks[dag.node("a").handler]
    task.push_request(id="t-a", retries=2, called_directly=False, delivery_info={})
    try:
        ctx = {"engine": "dyrygent", "run_id": "r-dy", "pipeline_id": "dchain", "node": "a"}
        with pytest.raises(Retry) as caught:
            rt.runner("dyrygent").run_node(task, ctx, {"chain_payload": {}})
    finally:
        task.pop_request()
    assert caught.value.when == rt.settings.lease_seconds / 3
    assert caught.value.sig.options["retries"] == 2  # looking again later is not a failed attempt
    assert rt.store.node_statuses("r-dy") == {"a": "RUNNING", "b": "PENDING"}


def test_heartbeat_renews_a_retry_waiting_for_its_countdown(pypeline_home: Path, tmp_path: Path) -> None:
    """A RETRYING node's message sits in the worker's timer (ETA): its lease is renewed, so it is not re-run."""
    rt = _runtime(tmp_path, lease_seconds=1.0, heartbeat_seconds=0.2)
    with rt.embedded_worker():
        run_id = rt.start_run("flakyrun", {})

        def renewed_while_retrying() -> bool:
            node = rt.store.node_runs(run_id)[0]
            if node["status"] != "RETRYING" or node["lease_expires_at"] is None:
                return False
            lease, changed = (datetime.fromisoformat(node[k]).replace(tzinfo=timezone.utc)
                              for k in ("lease_expires_at", "updated_at"))
            return lease > changed + timedelta(seconds=1.5)  # beyond what the claim granted: renewed

        wait_until(renewed_while_retrying, timeout=10)
        assert leases.expired(rt.store.engine, ["event"]) == []
        assert rt.wait(run_id, 30)["status"] == "SUCCESS"
    node = rt.store.node_runs(run_id)[0]
    assert node["attempts"] == 2 and node["retries"] == 1


def test_after_a_store_outage_the_leader_gives_live_workers_one_heartbeat(pypeline_home: Path,
                                                                          tmp_path: Path) -> None:
    """Leases lapse during a store outage while their workers live: once back, wait a beat before re-queueing."""
    rt = _runtime(tmp_path)
    for run_id in ("r-first", "r-later"):
        _create(rt, run_id)
        assert rt.store.claim_node(run_id, "a", f"t-{run_id}").claimed
    with rt.store.engine.begin() as conn:
        conn.execute(update(NodeRun.__table__).where(NodeRun.__table__.c.run_id == "r-first")
                     .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    loop = ReconcilerLoop(rt, holder="w1")
    assert loop.step(now=50.0)
    assert rt.store.node_statuses("r-first")["a"] == "QUEUED"  # no outage seen: a dead worker's node at once

    def store_down() -> bool:
        raise OperationalError("UPDATE pypeline_locks", {}, Exception("connection refused"))

    acquire, loop.lock.acquire = loop.lock.acquire, store_down  # type: ignore[method-assign]
    with pytest.raises(OperationalError):
        loop.step(now=60.0)
    loop.lock.acquire = acquire  # type: ignore[method-assign]
    with rt.store.engine.begin() as conn:  # the outage let the live worker's lease lapse
        conn.execute(update(NodeRun.__table__).where(NodeRun.__table__.c.run_id == "r-later")
                     .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert loop.step(now=100.0)
    assert rt.store.node_statuses("r-later")["a"] == "RUNNING"  # its worker gets one heartbeat to renew it
    assert loop.step(now=100.0 + loop.grace)
    assert rt.store.node_statuses("r-later")["a"] == "QUEUED"


def test_max_run_ttl_ends_a_dyrygent_run_and_its_processor(pypeline_home: Path, tmp_path: Path) -> None:
    rt = _runtime(tmp_path, dyrygent_tick=0.2)
    trace = tmp_path / "trace"
    revoked: list[list[str]] = []
    send_revoke = rt.celery.control.revoke

    def revoke(task_ids: list[str], **options: object) -> None:
        revoked.append(list(task_ids))
        send_revoke(task_ids, **options)

    rt.celery.control.revoke = revoke  # type: ignore[method-assign]
    with rt.embedded_worker():
        run_id = rt.start_run("dbounded", {"trace": str(trace), "sleep": 2})
        wait_until(lambda: _lines(trace) == ["nap start"])
        reconciler = Reconciler(rt)
        wait_until(lambda: reconciler.run_once().timed_out == [run_id], timeout=10)
    nap_task = {n["node"]: n["task_id"] for n in rt.store.node_runs(run_id)}["nap"]
    assert revoked == [[nap_task], rt.engines["dyrygent"].workflow_ids(run_id)]  # the node, then the processor
    run = rt.store.get_run(run_id)
    assert run["status"] == "FAILED" and run["error"] == "run exceeded maxRunTtl of 1 s"
    assert rt.store.node_statuses(run_id) == {"nap": "FAILED", "after": "SKIPPED"}
    assert "after ran" not in _lines(trace)

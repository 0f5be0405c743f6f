"""Retention: finished runs are pruned with everything attached, in short batches a concurrent writer barely sees."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select

from pypeline.cli import cli
from pypeline.errors import InvalidInputError
from pypeline.runtime import Runtime
from pypeline.services import retention as retention_service
from pypeline.status import Status
from pypeline.store.models import NodeRun, PipelineRun, RunEvent, utcnow
from pypeline.store.ops_models import NodeLog, RunTag
from pypeline.store.retention import prune_runs


def _seed(rt: Runtime, n: int, *, age_days: float, status: Status = Status.SUCCESS, prefix: str = "old") -> list[str]:
    """`n` finished runs that ended `age_days` ago, each with a node, an event, a tag and a log chunk."""
    at = utcnow() - timedelta(days=age_days)
    ids = [f"{prefix}-{i:05d}" for i in range(n)]
    with rt.store.engine.begin() as conn:
        conn.execute(insert(PipelineRun.__table__), [
            {"id": r, "pipeline_id": "chatty", "engine": "event", "status": status.value, "attempt": 1,
             "nodes_total": 1, "nodes_left": 0, "created_at": at, "finished_at": at, "updated_at": at} for r in ids])
        conn.execute(insert(NodeRun.__table__), [
            {"run_id": r, "node": "talk", "instance": "", "handler": "h.h", "status": status.value, "remaining": 0,
             "attempts": 1, "retries": 0, "created_at": at, "updated_at": at} for r in ids])
        conn.execute(insert(RunEvent.__table__), [{"run_id": r, "name": "e", "created_at": at} for r in ids])
        conn.execute(insert(RunTag.__table__), [{"run_id": r, "tag": "t"} for r in ids])
        conn.execute(insert(NodeLog.__table__), [{"run_id": r, "node": "talk", "instance": "", "attempt": 1,
                                                  "text": "x" * 100, "created_at": at} for r in ids])
    return ids


def _count(rt: Runtime, model: type) -> int:
    with rt.store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model.__table__)).scalar_one())


def test_prune_deletes_in_batches_while_a_writer_keeps_going(ops_runtime: Callable[..., Runtime]) -> None:
    rt = ops_runtime()
    _seed(rt, 1200, age_days=40)
    young = _seed(rt, 5, age_days=1, prefix="young")
    live = rt.start_run("chatty", {"marker": "live"})  # RUNNING: never pruned, and the writer's target
    waits: list[float] = []
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            started = time.monotonic()
            rt.store.add_event(live, "tick")
            waits.append(time.monotonic() - started)

    thread = threading.Thread(target=writer)
    thread.start()
    batches: list[int] = []
    try:
        removed = prune_runs(rt.store.engine, utcnow() - timedelta(days=30), batch=500, on_batch=batches.append)
    finally:
        stop.set()
        thread.join()
    assert removed == 1200 and batches == [500, 500, 200]
    assert waits and max(waits) < 1.0, max(waits)
    assert _count(rt, PipelineRun) == len(young) + 1
    assert _count(rt, NodeLog) == len(young) and _count(rt, RunTag) == len(young)
    assert _count(rt, RunEvent) == len(young) + len(waits)
    assert rt.store.run_status(live) is Status.RUNNING


def test_service_and_cli_status_filter_and_dry_run(ops_runtime: Callable[..., Runtime]) -> None:
    rt = ops_runtime()
    _seed(rt, 3, age_days=10, status=Status.FAILED, prefix="failed")
    _seed(rt, 4, age_days=10, status=Status.SUCCESS, prefix="ok")
    assert retention_service.prune(rt, 5, dry_run=True)["runs"] == 7
    assert _count(rt, PipelineRun) == 7
    assert retention_service.prune(rt, 5, ["failed"])["runs"] == 3
    with pytest.raises(InvalidInputError):
        retention_service.prune(rt, 5, ["RUNNING"])
    with pytest.raises(InvalidInputError):
        retention_service.prune(rt, -1)
    db = ["--database", rt.settings.resolved_database_url]
    result = CliRunner().invoke(cli, ["runs", "prune", "--older-than", "20", *db])
    assert result.exit_code == 0 and '"runs": 0' in result.output, result.output
    result = CliRunner().invoke(cli, ["runs", "prune", "--older-than", "5", "--status", "SUCCESS", *db])
    assert result.exit_code == 0 and '"runs": 4' in result.output, result.output
    assert _count(rt, PipelineRun) == 0
    result = CliRunner().invoke(cli, ["runs", "prune", "--older-than", "5", "--status", "RUNNING", *db])
    assert result.exit_code == 1


def test_beat_housekeeping_prunes_when_retention_is_set(ops_runtime: Callable[..., Runtime]) -> None:
    from pypeline.scheduler.housekeeping import Housekeeper
    from pypeline.scheduler.store import ScheduleStore

    rt = ops_runtime(run_retention_days=7.0)
    _seed(rt, 2, age_days=10)
    _seed(rt, 1, age_days=3, prefix="young")
    keeper, other = Housekeeper(rt, "beat-a"), Housekeeper(rt, "beat-b")
    other.tick(0.0, ScheduleStore(rt.store.url))  # takes the lease first
    assert _count(rt, PipelineRun) == 1
    _seed(rt, 2, age_days=10, prefix="again")
    keeper.tick(10_000.0, ScheduleStore(rt.store.url))  # the lease is held by beat-b: nothing done
    assert _count(rt, PipelineRun) == 3
    off = ops_runtime()  # same store, retention off (0): kept forever
    Housekeeper(off, "beat-b").tick(0.0, ScheduleStore(off.store.url))
    assert _count(off, PipelineRun) == 3

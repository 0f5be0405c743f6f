"""Retention: finished runs are pruned with everything attached, in short batches a concurrent writer barely sees."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, insert, select

from pypeline.cli import cli
from pypeline.errors import InvalidInputError
from pypeline.runtime import Runtime
from pypeline.services import retention as retention_service
from pypeline.status import Status
from pypeline.store.models import NodeLog, NodeRun, PipelineRun, RunEvent, RunTag, utcnow
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
    writes: list[tuple[float, float]] = []  # (started, finished) of each write
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            started = time.monotonic()
            rt.store.add_event(live, "tick")
            writes.append((started, time.monotonic()))

    held: list[float] = []  # how long each prune transaction held the store
    opened: dict[int, float] = {}
    pruner = threading.get_ident()

    def on_begin(conn: Any) -> None:
        if threading.get_ident() == pruner:
            opened[pruner] = time.monotonic()

    def on_commit(conn: Any) -> None:
        if threading.get_ident() == pruner and pruner in opened:
            held.append(time.monotonic() - opened.pop(pruner))

    event.listen(rt.store.engine, "begin", on_begin)
    event.listen(rt.store.engine, "commit", on_commit)
    thread = threading.Thread(target=writer)
    thread.start()
    commits: list[float] = []
    try:
        removed = prune_runs(rt.store.engine, utcnow() - timedelta(days=30), batch=300,
                             on_batch=lambda n: commits.append(time.monotonic()))
    finally:
        stop.set()
        thread.join()
        event.remove(rt.store.engine, "begin", on_begin)
        event.remove(rt.store.engine, "commit", on_commit)
    assert removed == 1200 and len(commits) == 4  # four transactions of 300 runs
    assert held and max(held) < 1.0, held  # no transaction holds the store for a second
    # The writer was never shut out: it committed between the first and the last batch, and its waits
    # stay short (the slowest 5 % are left out: on a loaded CI machine a thread may simply not be scheduled).
    assert any(commits[0] < done < commits[-1] for _, done in writes)
    waits = sorted(done - started for started, done in writes)
    assert waits[int(len(waits) * 0.95)] < 1.0, waits[-5:]
    assert _count(rt, PipelineRun) == len(young) + 1
    assert _count(rt, NodeLog) == len(young) and _count(rt, RunTag) == len(young)
    assert _count(rt, RunEvent) == len(young) + len(writes)
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


def test_chunk_runs_stay_while_their_batch_run_is_kept(ops_runtime: Callable[..., Runtime]) -> None:
    from pypeline.store.models import BatchChunk, BatchRun

    rt = ops_runtime()
    ids = _seed(rt, 4, age_days=40)
    at = utcnow() - timedelta(days=40)
    with rt.store.engine.begin() as conn:
        for batch_run, status, runs in (("live", "PAUSED", ids[:2]), ("done", "SUCCESS", ids[2:3])):
            conn.execute(insert(BatchRun.__table__).values(
                id=batch_run, pipeline_id="chatty", status=status, generator={}, chunk_size=1, concurrency=1,
                payload_key="keys", keys_listed=1, chunks_created=len(runs), listing_done=True, created_at=at,
                finished_at=None if status == "PAUSED" else at, updated_at=at))
            conn.execute(insert(BatchChunk.__table__), [
                {"batch_run_id": batch_run, "number": i, "run_id": r, "keys": ["k"], "key_count": 1, "created_at": at}
                for i, r in enumerate(runs)])
    result = retention_service.prune(rt, 30)
    assert (result["runs"], result["batch_runs"]) == (2, 1)  # ids[2] (its batch run went) and ids[3]
    with rt.store.engine.connect() as conn:
        left = set(conn.execute(select(PipelineRun.__table__.c.id)).scalars())
    assert left == set(ids[:2])  # chunks of the paused batch run: a resume must not run them again

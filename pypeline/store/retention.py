"""Retention: delete finished runs with their nodes, events, tags, logs and notification attempts, in batches.

Each batch is its own short transaction (at most `batch` runs), so concurrent writers never wait for a
whole prune: they wait at most for one batch's deletes.

Chunk runs of a batch run are kept as long as their batch run exists (a resume would otherwise see the
chunk as never started and run it again); finished batch runs older than the cutoff are pruned first,
with their chunk rows, which releases their runs to the ordinary prune.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, delete, func, select

from pypeline.status import Status
from pypeline.store.models import (
    BatchChunk,
    BatchRun,
    NodeLog,
    NodeRun,
    NotificationAttempt,
    PipelineRun,
    RunEvent,
    RunTag,
)

__all__ = ["PRUNABLE", "prune_runs", "prune_batch_runs", "count_prunable"]

_RUN = PipelineRun.__table__
#: Child tables deleted before their runs (explicitly: bounded work, whatever the FK cascade settings).
_CHILDREN = (NodeLog.__table__, NotificationAttempt.__table__, RunTag.__table__, RunEvent.__table__,
             NodeRun.__table__)
#: Run statuses a prune may delete (finished runs only).
PRUNABLE = (Status.SUCCESS, Status.FAILED, Status.CANCELLED, Status.SKIPPED)
#: Seconds a prune on SQLite waits between batches: longer than SQLite's longest busy-handler sleep (100 ms).
SQLITE_PAUSE = 0.15
_BATCH_RUNS = BatchRun.__table__
_CHUNKS = BatchChunk.__table__
_FINISHED_BATCH = (Status.SUCCESS.value, Status.FAILED.value, Status.CANCELLED.value)


def _conditions(before: datetime, statuses: Sequence[Status]) -> list[ColumnElement[bool]]:
    chosen = [s.value for s in statuses if s in PRUNABLE] if statuses else [s.value for s in PRUNABLE]
    return [_RUN.c.status.in_(chosen), func.coalesce(_RUN.c.finished_at, _RUN.c.created_at) < before,
            _RUN.c.id.not_in(select(_CHUNKS.c.run_id))]


def prune_batch_runs(engine: Engine, before: datetime, batch: int = 500) -> int:
    """Delete finished batch runs that ended before `before` with their chunk rows, in batches."""
    total = 0
    while True:
        with engine.begin() as conn:
            ids = list(conn.execute(select(_BATCH_RUNS.c.id).where(
                _BATCH_RUNS.c.status.in_(_FINISHED_BATCH), _BATCH_RUNS.c.finished_at < before)
                .order_by(_BATCH_RUNS.c.id).limit(batch)).scalars())
            if not ids:
                return total
            conn.execute(delete(_CHUNKS).where(_CHUNKS.c.batch_run_id.in_(ids)))
            conn.execute(delete(_BATCH_RUNS).where(_BATCH_RUNS.c.id.in_(ids)))
        total += len(ids)


def count_prunable(engine: Engine, before: datetime, statuses: Sequence[Status] = ()) -> int:
    """How many runs a prune with these arguments would delete."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(_RUN)
                                .where(*_conditions(before, statuses))).scalar_one())


def prune_runs(
    engine: Engine,
    before: datetime,
    statuses: Sequence[Status] = (),
    *,
    batch: int = 500,
    on_batch: Callable[[int], None] | None = None,
    pause: float | None = None,
) -> int:
    """Delete finished runs (of `statuses`, default all finished) that ended before `before`; returns the count.

    One transaction per batch of at most `batch` runs; `on_batch` is told each batch's size after its commit.
    Between batches the prune sleeps `pause` seconds (default: 0.1 on SQLite, whose busy handler is not
    fair, so that waiting writers get the lock; 0 on PostgreSQL, where they are not blocked at all).
    """
    if pause is None:
        pause = SQLITE_PAUSE if engine.dialect.name == "sqlite" else 0.0
    total = 0
    cond = _conditions(before, statuses)
    while True:
        with engine.begin() as conn:
            ids = list(conn.execute(select(_RUN.c.id).where(*cond).order_by(_RUN.c.id).limit(batch)).scalars())
            if not ids:
                return total
            for table in _CHILDREN:
                conn.execute(delete(table).where(table.c.run_id.in_(ids)))
            conn.execute(delete(_RUN).where(_RUN.c.id.in_(ids), *cond))
        total += len(ids)
        if on_batch is not None:
            on_batch(len(ids))
        if pause > 0:
            time.sleep(pause)

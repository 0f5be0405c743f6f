"""Retention: delete finished runs with their nodes, events, tags, logs and notification attempts, in batches.

Each batch is its own short transaction (at most `batch` runs), so concurrent writers never wait for a
whole prune: they wait at most for one batch's deletes.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Engine, delete, func, select

from pypeline.status import Status
from pypeline.store.models import NodeRun, PipelineRun, RunEvent
from pypeline.store.ops_models import NodeLog, NotificationAttempt, RunTag

__all__ = ["PRUNABLE", "prune_runs", "count_prunable"]

_RUN = PipelineRun.__table__
#: Child tables deleted before their runs (explicitly: bounded work, whatever the FK cascade settings).
_CHILDREN = (NodeLog.__table__, NotificationAttempt.__table__, RunTag.__table__, RunEvent.__table__,
             NodeRun.__table__)
#: Run statuses a prune may delete (finished runs only).
PRUNABLE = (Status.SUCCESS, Status.FAILED, Status.CANCELLED, Status.SKIPPED)


def _conditions(before: datetime, statuses: Sequence[Status]) -> list:
    chosen = [s.value for s in statuses if s in PRUNABLE] if statuses else [s.value for s in PRUNABLE]
    return [_RUN.c.status.in_(chosen), func.coalesce(_RUN.c.finished_at, _RUN.c.created_at) < before]


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
) -> int:
    """Delete finished runs (of `statuses`, default all finished) that ended before `before`; returns the count.

    One transaction per batch of at most `batch` runs; `on_batch` is told each batch's size after its commit.
    """
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

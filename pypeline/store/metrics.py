"""Aggregate queries behind the Prometheus metrics: runs and node runs by state, node duration buckets."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, case, func, select

from pypeline.errors import StoreError
from pypeline.status import Status
from pypeline.store.models import NodeRun, PipelineRun

__all__ = ["StoreCounts", "NodeDurations", "store_counts"]

_RUN = PipelineRun.__table__
_NODE = NodeRun.__table__


@dataclass(frozen=True)
class NodeDurations:
    """Finished runs of one node: how many, their summed seconds, and how many took at most each bound."""

    pipeline: str
    node: str
    count: int
    total_seconds: float
    cumulative: tuple[int, ...]  # one per bound, in the order of the bounds asked for


@dataclass(frozen=True)
class StoreCounts:
    """One snapshot of the store's aggregates."""

    runs: list[tuple[str, str, int]]  # (pipeline, status, count)
    node_runs: list[tuple[str, str, int]]  # (pipeline, status, count)
    durations: list[NodeDurations]


def _duration_seconds(dialect: str) -> Any:
    """SQL expression for finished_at - started_at in seconds on this dialect."""
    started, finished = _NODE.c.started_at, _NODE.c.finished_at
    if dialect == "postgresql":
        return func.extract("epoch", finished - started)
    if dialect == "sqlite":
        return (func.julianday(finished) - func.julianday(started)) * 86400.0
    raise StoreError(f"node duration metrics support PostgreSQL and SQLite, not {dialect!r}")


def store_counts(engine: Engine, bounds: Sequence[float]) -> StoreCounts:
    """Runs and node runs per (pipeline, status), and per-node duration buckets (≤ each of `bounds` seconds)."""
    with engine.connect() as conn:
        runs = conn.execute(select(_RUN.c.pipeline_id, _RUN.c.status, func.count())
                            .group_by(_RUN.c.pipeline_id, _RUN.c.status)).all()
        nodes = conn.execute(
            select(_RUN.c.pipeline_id, _NODE.c.status, func.count())
            .select_from(_NODE.join(_RUN, _NODE.c.run_id == _RUN.c.id))
            .group_by(_RUN.c.pipeline_id, _NODE.c.status)).all()
        dur = _duration_seconds(engine.dialect.name)
        bucket_cols = [func.sum(case((dur <= bound, 1), else_=0)) for bound in bounds]
        durations = conn.execute(
            select(_RUN.c.pipeline_id, _NODE.c.node, func.count(), func.coalesce(func.sum(dur), 0.0), *bucket_cols)
            .select_from(_NODE.join(_RUN, _NODE.c.run_id == _RUN.c.id))
            .where(_NODE.c.status.in_([Status.SUCCESS.value, Status.FAILED.value]),
                   _NODE.c.started_at.is_not(None), _NODE.c.finished_at.is_not(None))
            .group_by(_RUN.c.pipeline_id, _NODE.c.node)).all()
    return StoreCounts(
        runs=[(str(p), str(s), int(n)) for p, s, n in runs],
        node_runs=[(str(p), str(s), int(n)) for p, s, n in nodes],
        durations=[NodeDurations(str(p), str(node), int(count), float(total or 0.0),
                                 tuple(int(c or 0) for c in cumulative))
                   for p, node, count, total, *cumulative in durations],
    )

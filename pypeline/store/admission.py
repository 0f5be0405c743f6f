"""Per-pipeline run slots (`maxActiveRuns`): reserve or queue a run, admit queued runs in order.

Every decision is taken under a per-pipeline lock (a PostgreSQL transaction-level advisory lock; SQLite's
BEGIN IMMEDIATE already serialises writers), so API processes, workers and beat never over-admit.
A reserved run is a PENDING row with no nodes; the engine's `create_run` turns it into the real run.
"""
from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from pypeline.errors import ConcurrencyLimitError
from pypeline.status import Status
from pypeline.store.models import PipelineRun, utcnow
from pypeline.store.tags import add_tags

__all__ = ["SLOT_STATUSES", "Admitted", "reserve_run", "admit_queued", "stale_reservations", "release_reservation"]

_RUN = PipelineRun.__table__
#: Run statuses that hold one of the pipeline's slots.
SLOT_STATUSES = (Status.PENDING.value, Status.RUNNING.value, Status.PAUSED.value)
#: Advisory lock namespace of pipeline slots (the second key is a hash of the pipeline id).
_LOCK_SPACE = 727275


@dataclass(frozen=True)
class Admitted:
    """A queued run now holding a slot: start it on its engine."""

    run_id: str
    payload: Any
    origin: str | None


def _lock(conn: Connection, pipeline_id: str) -> None:
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(pipeline_id.encode()) - 2**31
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_SPACE}, {key})")


def _active(conn: Connection, pipeline_id: str) -> int:
    return int(conn.execute(select(func.count()).select_from(_RUN).where(
        _RUN.c.pipeline_id == pipeline_id, _RUN.c.status.in_(SLOT_STATUSES))).scalar_one())


def _waiting(conn: Connection, pipeline_id: str) -> bool:
    return conn.execute(select(_RUN.c.id).where(
        _RUN.c.pipeline_id == pipeline_id, _RUN.c.status == Status.QUEUED.value).limit(1)).first() is not None


def reserve_run(
    engine: Engine,
    *,
    run_id: str,
    pipeline_id: str,
    engine_name: str,
    payload: Any,
    origin: str | None,
    tags: Sequence[str],
    limit: int,
    on_limit: str,
) -> Status:
    """Create the run row: PENDING (a slot is free: start it now), QUEUED (wait) or SKIPPED (dropped).

    Raises ConcurrencyLimitError when the pipeline is full and `on_limit` is "fail" (nothing is written).
    Runs queued earlier go first: a new run never overtakes them.
    """
    now = utcnow()
    with engine.begin() as conn:
        _lock(conn, pipeline_id)
        active = _active(conn, pipeline_id)
        values: dict[str, Any] = {}
        if active < limit and not _waiting(conn, pipeline_id):
            status = Status.PENDING
        elif on_limit == "queue":
            status = Status.QUEUED
        elif on_limit == "skip":
            status = Status.SKIPPED
            values = {"finished_at": now, "error": f"skipped: {active} run(s) active, maxActiveRuns is {limit}"}
        else:
            raise ConcurrencyLimitError(f"pipeline {pipeline_id!r} already has {active} active run(s) "
                                        f"(maxActiveRuns {limit})")
        conn.execute(insert(_RUN).values(
            id=run_id, pipeline_id=pipeline_id, engine=engine_name, status=status.value, attempt=1, payload=payload,
            leaves=[], nodes_total=0, nodes_left=0, origin=origin, created_at=now, updated_at=now, **values))
        add_tags(conn, run_id, tags)
    return status


def admit_queued(engine: Engine, pipeline_id: str, limit: int) -> list[Admitted]:
    """Move the oldest QUEUED runs of a pipeline to PENDING while slots are free; returns them, oldest first."""
    with engine.begin() as conn:
        _lock(conn, pipeline_id)
        free = limit - _active(conn, pipeline_id)
        if free <= 0:
            return []
        rows = conn.execute(select(_RUN.c.id, _RUN.c.payload, _RUN.c.origin).where(
            _RUN.c.pipeline_id == pipeline_id, _RUN.c.status == Status.QUEUED.value)
            .order_by(_RUN.c.created_at, _RUN.c.id).limit(free)).all()
        out: list[Admitted] = []
        for row in rows:
            moved = conn.execute(update(_RUN).where(_RUN.c.id == row.id, _RUN.c.status == Status.QUEUED.value)
                                 .values(status=Status.PENDING.value, updated_at=utcnow()))
            if moved.rowcount == 1:
                out.append(Admitted(row.id, row.payload, row.origin))
        return out


def stale_reservations(engine: Engine, older_than: datetime, pipeline_ids: Sequence[str]) -> list[Admitted]:
    """PENDING runs with no nodes untouched since `older_than`: reserved, but their start never happened."""
    if not pipeline_ids:
        return []
    with engine.connect() as conn:
        rows = conn.execute(select(_RUN.c.id, _RUN.c.payload, _RUN.c.origin).where(
            _RUN.c.pipeline_id.in_(list(pipeline_ids)), _RUN.c.status == Status.PENDING.value,
            _RUN.c.nodes_total == 0, _RUN.c.updated_at < older_than).order_by(_RUN.c.created_at)).all()
    return [Admitted(r.id, r.payload, r.origin) for r in rows]


def release_reservation(engine: Engine, run_id: str, error: str) -> bool:
    """Fail a reserved run whose start failed before its nodes were created (frees the slot)."""
    now = utcnow()
    with engine.begin() as conn:
        res = conn.execute(update(_RUN).where(_RUN.c.id == run_id, _RUN.c.status == Status.PENDING.value,
                                              _RUN.c.nodes_total == 0)
                           .values(status=Status.FAILED.value, error=error, finished_at=now, updated_at=now))
    return res.rowcount == 1

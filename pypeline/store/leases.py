"""Per-node leases in the run store: who runs a node, until when it is known alive, and what recovery finds.

A claim (`RunStore.claim_node`) sets `lease_expires_at = now + lease` and `lease_holder` (this worker
process, see `holder_id`) in its one UPDATE. The worker's heartbeat renews the leases of the nodes it is
executing (`renew`), and gives up at once the lease of a node whose task vanished from the worker while the
row still says RUNNING (`release`: a pool process died). The reconciler moves rows whose lease expired back
to QUEUED (`requeue_expired`, guarded by status, task id and the expiry itself, so a node that finished or
was re-claimed meanwhile is never touched) and re-publishes them.

Times are the writers' clocks (UTC), like every timestamp of the store: workers need clocks within a few
seconds of each other (NTP), far below the lease.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from pypeline.status import ACTIVE, Status, allowed_sources
from pypeline.store.models import NodeRun, PipelineRun, RunEvent, utcnow

__all__ = ["holder_id", "live_lease", "LeaseRow", "renew", "release", "expired", "requeue_expired",
           "overdue_queued", "touch_queued", "overrunning_runs", "timeout_run", "TimeoutOutcome"]

_RUN = PipelineRun.__table__
_NODE = NodeRun.__table__
_EVENT = RunEvent.__table__
_CHUNK = 500
#: Node states a lease protects: executing, or waiting for a retry held by a worker (an ETA message).
LEASED = (Status.RUNNING.value, Status.RETRYING.value)
#: The worker process every lease of this process names; forked pool processes inherit the parent's value,
#: so a prefork child claims in the name of the main process, whose heartbeat renews the lease.
_HOLDER = f"{socket.gethostname()}:{os.getpid()}"


def holder_id() -> str:
    """This worker process's lease-holder name ("host:pid" of the worker's main process)."""
    return _HOLDER


def live_lease(now: datetime) -> ColumnElement[bool]:
    """SQL: the row is RUNNING under a lease that has not expired (a claim must not take it over)."""
    return and_(_NODE.c.status == Status.RUNNING.value, _NODE.c.lease_expires_at.is_not(None),
                _NODE.c.lease_expires_at >= now)


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def renew(engine: Engine, task_ids: Collection[str], lease_seconds: float, holder: str | None = None) -> int:
    """Extend the leases of the nodes this worker executes or holds for a retry; returns rows renewed.

    RUNNING rows are renewed only for their holder (a duplicate delivery in another worker must not keep a
    dead holder's lease alive); a RETRYING row is taken over by whichever worker holds its retry message.
    """
    if not task_ids:
        return 0
    me = holder or _HOLDER
    until = utcnow() + timedelta(seconds=lease_seconds)
    count = 0
    with engine.begin() as conn:
        for batch in _chunks(sorted(task_ids)):
            res = conn.execute(update(_NODE).where(
                _NODE.c.task_id.in_(batch),
                or_(and_(_NODE.c.status == Status.RUNNING.value, _NODE.c.lease_holder == me),
                    _NODE.c.status == Status.RETRYING.value),
            ).values(lease_expires_at=until, lease_holder=me, updated_at=_NODE.c.updated_at))  # not a change
            count += res.rowcount
    return count


def release(engine: Engine, task_ids: Collection[str], holder: str | None = None) -> int:
    """Expire at once the leases of RUNNING rows whose task this worker no longer has (its pool process died)."""
    if not task_ids:
        return 0
    me = holder or _HOLDER
    past = utcnow() - timedelta(seconds=1)
    count = 0
    with engine.begin() as conn:
        for batch in _chunks(sorted(task_ids)):
            res = conn.execute(update(_NODE).where(
                _NODE.c.task_id.in_(batch), _NODE.c.status == Status.RUNNING.value, _NODE.c.lease_holder == me,
                _NODE.c.lease_expires_at > past,
            ).values(lease_expires_at=past, updated_at=_NODE.c.updated_at))
            count += res.rowcount
    return count


@dataclass(frozen=True)
class LeaseRow:
    """A node row the reconciler may act on."""

    id: int
    run_id: str
    node: str
    instance: str
    status: str
    task_id: str | None
    queue: str | None


def _active_runs(engines: Collection[str]) -> ColumnElement[bool]:
    return and_(_RUN.c.status.in_([Status.RUNNING.value, Status.PAUSED.value]), _RUN.c.engine.in_(list(engines)))


def expired(engine: Engine, engines: Collection[str], now: datetime | None = None,
            limit: int = 1000) -> list[LeaseRow]:
    """RUNNING/RETRYING rows of active runs (of the given engines) whose lease expired: their worker is gone."""
    now = now or utcnow()
    stmt = (select(_NODE.c.id, _NODE.c.run_id, _NODE.c.node, _NODE.c.instance, _NODE.c.status, _NODE.c.task_id,
                   _NODE.c.queue)
            .join(_RUN, _RUN.c.id == _NODE.c.run_id)
            .where(_active_runs(engines), _NODE.c.status.in_(LEASED), _NODE.c.lease_expires_at.is_not(None),
                   _NODE.c.lease_expires_at < now)
            .order_by(_NODE.c.id).limit(limit))
    with engine.connect() as conn:
        return [LeaseRow(*row) for row in conn.execute(stmt)]


def requeue_expired(engine: Engine, rows: Sequence[LeaseRow], now: datetime | None = None) -> list[LeaseRow]:
    """Move rows whose lease is still expired (and untouched since seen) back to QUEUED; returns those moved."""
    now = now or utcnow()
    moved: list[LeaseRow] = []
    with engine.begin() as conn:
        for row in rows:
            res = conn.execute(update(_NODE).where(
                _NODE.c.id == row.id, _NODE.c.status == row.status,
                _NODE.c.task_id == row.task_id if row.task_id is not None else _NODE.c.task_id.is_(None),
                _NODE.c.lease_expires_at < now,
            ).values(status=Status.QUEUED.value, lease_expires_at=None, lease_holder=None, updated_at=now))
            if res.rowcount == 1:
                moved.append(row)
    return moved


def overdue_queued(engine: Engine, engines: Collection[str], older_than: datetime,
                   limit: int = 10_000) -> list[LeaseRow]:
    """QUEUED rows of RUNNING runs untouched since `older_than` (their message may be lost)."""
    stmt = (select(_NODE.c.id, _NODE.c.run_id, _NODE.c.node, _NODE.c.instance, _NODE.c.status, _NODE.c.task_id,
                   _NODE.c.queue)
            .join(_RUN, _RUN.c.id == _NODE.c.run_id)
            .where(_RUN.c.status == Status.RUNNING.value, _RUN.c.engine.in_(list(engines)),
                   _NODE.c.status == Status.QUEUED.value, _NODE.c.updated_at < older_than)
            .order_by(_NODE.c.run_id, _NODE.c.id).limit(limit))
    with engine.connect() as conn:
        return [LeaseRow(*row) for row in conn.execute(stmt)]


def touch_queued(engine: Engine, rows: Sequence[LeaseRow], older_than: datetime) -> list[LeaseRow]:
    """Stamp overdue QUEUED rows as re-published now; returns the rows this caller won (no double re-publish)."""
    now = utcnow()
    won: list[LeaseRow] = []
    with engine.begin() as conn:
        for row in rows:
            res = conn.execute(update(_NODE).where(
                _NODE.c.id == row.id, _NODE.c.status == Status.QUEUED.value, _NODE.c.updated_at < older_than,
            ).values(updated_at=now))
            if res.rowcount == 1:
                won.append(row)
    return won


def overrunning_runs(engine: Engine, pipeline_id: str, started_before: datetime) -> list[str]:
    """Active runs of a pipeline started (or last retried) before `started_before`."""
    with engine.connect() as conn:
        candidates = [r[0] for r in conn.execute(select(_RUN.c.id).where(
            _RUN.c.pipeline_id == pipeline_id, _RUN.c.status.in_([s.value for s in ACTIVE]),
            _RUN.c.started_at < started_before))]
        out = []
        for run_id in candidates:
            retried = conn.execute(select(_EVENT.c.created_at).where(
                _EVENT.c.run_id == run_id, _EVENT.c.name == "retried").order_by(_EVENT.c.id.desc()).limit(1)).scalar()
            if retried is None or _naive(retried) < _naive(started_before):
                out.append(run_id)
    return out


def _naive(value: datetime) -> datetime:
    """UTC wall time without a zone (SQLite returns naive UTC, PostgreSQL aware values)."""
    return value if value.tzinfo is None else value.astimezone(timezone.utc).replace(tzinfo=None)


@dataclass
class TimeoutOutcome:
    """What failing a run for its run-level timeout changed."""

    applied: bool
    revoke: list[str]  # Celery task ids of the nodes that were running


def timeout_run(engine: Engine, run_id: str, error: str) -> TimeoutOutcome:
    """End an active run FAILED: running nodes FAILED with `error`, unstarted ones SKIPPED, in one transaction."""
    now = utcnow()
    with engine.begin() as conn:
        stmt = select(_RUN.c.status).where(_RUN.c.id == run_id)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        status = conn.execute(stmt).scalar()
        if status is None or Status(status) not in ACTIVE:
            return TimeoutOutcome(False, [])
        running = conn.execute(select(_NODE.c.node, _NODE.c.task_id).where(
            _NODE.c.run_id == run_id, _NODE.c.status.in_(LEASED)).order_by(_NODE.c.id)).all()
        for target, sources in ((Status.FAILED, LEASED),
                                (Status.SKIPPED, (Status.PENDING.value, Status.QUEUED.value))):
            allowed = {s.value for s in allowed_sources(target, node=True)}
            conn.execute(update(_NODE).where(
                _NODE.c.run_id == run_id, _NODE.c.status.in_([s for s in sources if s in allowed]),
            ).values(status=target.value, error=error, finished_at=now, updated_at=now, lease_expires_at=None,
                     lease_holder=None))
        run_sources = [s.value for s in allowed_sources(Status.FAILED, node=False)]
        values: dict[str, Any] = {"status": Status.FAILED.value, "error": error, "nodes_left": 0,
                                  "finished_at": now, "updated_at": now}
        if running:
            values["failed_node"] = running[0].node
        res = conn.execute(update(_RUN).where(_RUN.c.id == run_id, _RUN.c.status.in_(run_sources)).values(**values))
    return TimeoutOutcome(res.rowcount == 1, [t for _, t in running if t])

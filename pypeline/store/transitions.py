"""Guarded state-machine SQL of the run store: every status change is an UPDATE allowed by `pypeline.status`.

Functions here run inside a caller's transaction (`conn`) and never commit.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, select, update

from pypeline.errors import NotFoundError
from pypeline.status import Status, allowed_sources
from pypeline.store.models import NodeRun, PipelineRun, utcnow
from pypeline.store.rows import Pair, by_instance, chunks

__all__ = ["Running", "RunningCheck", "move_nodes", "move_run", "count_down", "finalize", "status_for_update",
           "run_lock_first", "queue_ready", "queued_in"]

_RUN = PipelineRun.__table__
_NODE = NodeRun.__table__

#: Whether the run is RUNNING (not paused); evaluated lazily by the plan steps that need it.
Running = Callable[[], bool]


class RunningCheck:
    """Whether the run is RUNNING (not paused), read at most once per transaction and only if needed."""

    def __init__(self, conn: Connection, run_id: str) -> None:
        self.conn, self.run_id = conn, run_id
        self.value: bool | None = None

    def __call__(self) -> bool:
        if self.value is None:
            status = self.conn.execute(select(_RUN.c.status).where(_RUN.c.id == self.run_id)).scalar_one()
            self.value = status == Status.RUNNING.value
        return self.value


def move_nodes(
    conn: Connection,
    run_id: str,
    nodes: Sequence[str] | None,
    target: Status,
    *,
    instance: str | None = "",
    only_from: Iterable[Status] | None = None,
    values: dict[str, Any] | None = None,
    extra: Sequence[ColumnElement[bool]] = (),
) -> list[str]:
    """Move nodes (all of the run's when `nodes` is None) to `target` where allowed; returns the nodes moved."""
    sources = allowed_sources(target, node=True)
    if only_from is not None:
        sources = sources & frozenset(only_from)
    now = utcnow()
    vals = {"status": target.value, "updated_at": now, **(values or {})}
    if target.is_terminal:
        vals.setdefault("finished_at", now)
    base = [_NODE.c.run_id == run_id, _NODE.c.status.in_([s.value for s in sources]), *extra]
    if instance is not None:
        base.append(_NODE.c.instance == instance)
    moved: list[str] = []
    batches: Iterable[Sequence[str] | None] = [None] if nodes is None else chunks(list(nodes))
    for batch in batches:
        cond = list(base)
        if batch is not None:
            cond.append(_NODE.c.node.in_(batch))
        rows = conn.execute(update(_NODE).where(and_(*cond)).values(**vals).returning(_NODE.c.node))
        moved.extend(r[0] for r in rows)
    return moved


def move_run(conn: Connection, run_id: str, target: Status, **values: Any) -> bool:
    """Move a run to `target` if allowed from its current status; True when it moved."""
    sources = [s.value for s in allowed_sources(target, node=False)]
    vals: dict[str, Any] = {"status": target.value, "updated_at": utcnow(), **values}
    if target.is_terminal:
        vals.setdefault("finished_at", utcnow())
    res = conn.execute(update(_RUN).where(_RUN.c.id == run_id, _RUN.c.status.in_(sources)).values(**vals))
    return res.rowcount == 1


def count_down(conn: Connection, run_id: str, n: int) -> Status | None:
    """Subtract `n` finished nodes from the run; finalise it when none are left."""
    if n <= 0:
        return None
    row = conn.execute(
        update(_RUN).where(_RUN.c.id == run_id).values(nodes_left=_RUN.c.nodes_left - n)
        .returning(_RUN.c.nodes_left, _RUN.c.status)
    ).one()
    if row.nodes_left > 0 or Status(row.status) not in (Status.RUNNING, Status.PAUSED):
        return None
    return finalize(conn, run_id)


def finalize(conn: Connection, run_id: str) -> Status | None:
    """End a run whose nodes are all finished: FAILED if one failed, else SUCCESS with its leaves' results."""
    failed = conn.execute(
        select(_NODE.c.node).where(_NODE.c.run_id == run_id, _NODE.c.status == Status.FAILED.value).limit(1)
    ).first()
    leaf_names = conn.execute(select(_RUN.c.leaves).where(_RUN.c.id == run_id)).scalar_one() or []
    result: dict[str, Any] = {}
    for batch in chunks(leaf_names):
        for node, instance, value in conn.execute(
            select(_NODE.c.node, _NODE.c.instance, _NODE.c.result).where(
                _NODE.c.run_id == run_id, _NODE.c.node.in_(batch), _NODE.c.status == Status.SUCCESS.value
            ).order_by(_NODE.c.node, _NODE.c.instance)
        ):
            if instance:
                result.setdefault(node, {})[instance] = value
            else:
                result[node] = value
    target = Status.FAILED if failed else Status.SUCCESS
    moved = move_run(conn, run_id, target, result=result)
    return target if moved else None


def status_for_update(conn: Connection, run_id: str) -> Status:
    """The run's status, its row locked for the transaction on PostgreSQL; NotFoundError if unknown."""
    stmt = select(_RUN.c.status).where(_RUN.c.id == run_id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    value = conn.execute(stmt).scalar()
    if value is None:
        raise NotFoundError(f"unknown run {run_id!r}")
    return Status(value)


def run_lock_first(conn: Connection, run_id: str) -> list[ColumnElement[bool]]:
    """A condition making a node UPDATE lock the run row before any node row (PostgreSQL).

    Run control (cancel, pause, resume, retry) locks the run row and then node rows; finishing a node
    must take them in the same order or the two deadlock. As part of the node UPDATE this costs no
    extra round trip (the scalar subquery runs once, before the scan).
    """
    if conn.dialect.name != "postgresql":
        return []  # SQLite: BEGIN IMMEDIATE serialises writers already
    return [_NODE.c.run_id == select(_RUN.c.id).where(_RUN.c.id == run_id).with_for_update().scalar_subquery()]


def queue_ready(conn: Connection, run_id: str, pairs: Sequence[Pair], running: Running) -> list[Pair]:
    """Move ready PENDING rows to QUEUED (not while the run is paused: resume() queues them)."""
    if not pairs or not running():
        return []
    out: list[Pair] = []
    for inst, nodes in by_instance(pairs).items():
        out.extend((n, inst) for n in move_nodes(conn, run_id, nodes, Status.QUEUED, instance=inst,
                                                 only_from=(Status.PENDING,)))
    return out


def queued_in(conn: Connection, run_id: str, nodes: Sequence[str], instance: str) -> list[str]:
    """Which of `nodes` (in `instance`) are QUEUED."""
    if not nodes:
        return []
    out: list[str] = []
    for batch in chunks(list(nodes)):
        out.extend(r[0] for r in conn.execute(select(_NODE.c.node).where(
            _NODE.c.run_id == run_id, _NODE.c.instance == instance, _NODE.c.node.in_(batch),
            _NODE.c.status == Status.QUEUED.value)))
    return out

"""Sub-pipeline links in the run store: which run and node started a child run, and what waits on which child.

A node declared with `pipeline: other_id` starts a child run whose id is derived from the node's generation
(parent run, its attempt, node, instance, the node's recorded retries; see `child_run_id`), so every delivery
of the same node attempt finds the same child instead of starting another. The child row carries
`parent_run_id`/`parent_node`/`parent_instance`. While the child runs, the parent node stays RUNNING with no
lease (`hand_off`): no worker holds it, the reconciler does not take it for a dead worker's node, and the
next delivery of its message (sent when the child ends) may claim it at once.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, exists, select, update
from sqlalchemy.orm import aliased

from pypeline.errors import NotFoundError
from pypeline.formats import iso_utc
from pypeline.status import ACTIVE, TERMINAL, Status
from pypeline.store.models import NodeRun, PipelineRun

__all__ = ["ChildState", "WaitingParent", "child_run_id", "generation", "child_state", "link", "hand_off",
           "children_of", "active_children", "waiting_parents", "orphaned_children", "parent_of"]

_RUN = PipelineRun.__table__
_NODE = NodeRun.__table__
#: Namespace of the derived child run ids (uuid5).
_NAMESPACE = uuid.UUID("6f0d8c2e-2b1a-4c55-9a53-5e0b7c1d4a10")
_ACTIVE = [s.value for s in ACTIVE]
_TERMINAL = [s.value for s in TERMINAL]


@dataclass(frozen=True)
class ChildState:
    """What a parent node needs to know about its child run."""

    run_id: str
    pipeline_id: str
    status: Status
    result: Any
    error: str | None


@dataclass(frozen=True)
class WaitingParent:
    """A parent node (handed off, RUNNING without lease) whose child run has ended."""

    child_run_id: str
    parent_run_id: str
    node: str
    instance: str


def child_run_id(parent_run_id: str, run_attempt: int, node: str, instance: str, retries: int) -> str:
    """The id of the child run one generation of a node starts (the same for every delivery of that attempt)."""
    return str(uuid.uuid5(_NAMESPACE, f"{parent_run_id}\x1f{run_attempt}\x1f{node}\x1f{instance}\x1f{retries}"))


def generation(engine: Engine, run_id: str, node: str, instance: str = "") -> tuple[int, int]:
    """(run attempt, node retries) of a node row: a rerun or a retry of the node starts a new child."""
    with engine.connect() as conn:
        row = conn.execute(select(_RUN.c.attempt, _NODE.c.retries).join(_NODE, _NODE.c.run_id == _RUN.c.id).where(
            _RUN.c.id == run_id, _NODE.c.node == node, _NODE.c.instance == instance)).first()
    if row is None:
        raise NotFoundError(f"run {run_id!r} has no node {node!r}")
    return int(row.attempt or 1), int(row.retries or 0)


def child_state(engine: Engine, child_id: str) -> ChildState | None:
    """The child run's status, result and error; None when it was never created."""
    with engine.connect() as conn:
        row = conn.execute(select(_RUN.c.id, _RUN.c.pipeline_id, _RUN.c.status, _RUN.c.result, _RUN.c.error)
                           .where(_RUN.c.id == child_id)).first()
    if row is None:
        return None
    return ChildState(row.id, row.pipeline_id, Status(row.status), row.result, row.error)


def link(engine: Engine, child_id: str, parent_run_id: str, node: str, instance: str) -> None:
    """Record the parent of a child run (idempotent)."""
    with engine.begin() as conn:
        conn.execute(update(_RUN).where(_RUN.c.id == child_id).values(
            parent_run_id=parent_run_id, parent_node=node, parent_instance=instance))


def hand_off(engine: Engine, run_id: str, node: str, instance: str, task_id: str, child_id: str) -> bool:
    """Release the node's lease while its child run is still active; False (nothing changed) once it ended.

    One guarded UPDATE: if the child's terminal transition committed first, the node keeps its lease and the
    caller completes it itself; otherwise the child's end (committed later) re-publishes the node's message,
    which finds the node claimable.
    """
    child_active = exists(select(_RUN.c.id).where(_RUN.c.id == child_id, _RUN.c.status.in_(_ACTIVE)))
    with engine.begin() as conn:
        res = conn.execute(update(_NODE).where(
            _NODE.c.run_id == run_id, _NODE.c.node == node, _NODE.c.instance == instance,
            _NODE.c.status == Status.RUNNING.value, _NODE.c.task_id == task_id, child_active,
        ).values(lease_expires_at=None, lease_holder=None, updated_at=_NODE.c.updated_at))
    return res.rowcount == 1


def children_of(engine: Engine, run_id: str) -> list[dict[str, Any]]:
    """Child runs started by a run's nodes, oldest first (id, pipeline, status, node, instance, times)."""
    with engine.connect() as conn:
        rows = conn.execute(select(
            _RUN.c.id, _RUN.c.pipeline_id, _RUN.c.status, _RUN.c.parent_node, _RUN.c.parent_instance,
            _RUN.c.created_at, _RUN.c.finished_at).where(_RUN.c.parent_run_id == run_id)
            .order_by(_RUN.c.created_at, _RUN.c.id)).all()
    return [{"id": r.id, "pipeline_id": r.pipeline_id, "status": r.status, "node": r.parent_node,
             "instance": r.parent_instance or "", "created_at": iso_utc(r.created_at),
             "finished_at": iso_utc(r.finished_at)} for r in rows]


def active_children(engine: Engine, run_id: str) -> list[tuple[str, str]]:
    """(run id, engine) of a run's children that have not ended."""
    with engine.connect() as conn:
        rows = conn.execute(select(_RUN.c.id, _RUN.c.engine).where(
            _RUN.c.parent_run_id == run_id, _RUN.c.status.in_(_ACTIVE)).order_by(_RUN.c.id)).all()
    return [(r.id, r.engine) for r in rows]


def waiting_parents(engine: Engine, finished_before: datetime, limit: int = 500) -> list[WaitingParent]:
    """Parent nodes still handed off (RUNNING, no lease) although their child run ended before `finished_before`.

    Only the child of the node's current generation counts (a retried node waits on its newer child).
    """
    child, parent = aliased(_RUN), aliased(_RUN)
    stmt = (select(child.c.id, parent.c.id.label("parent_id"), parent.c.attempt, _NODE.c.node, _NODE.c.instance,
                   _NODE.c.retries)
            .select_from(child)
            .join(parent, parent.c.id == child.c.parent_run_id)
            .join(_NODE, and_(_NODE.c.run_id == parent.c.id, _NODE.c.node == child.c.parent_node,
                              _NODE.c.instance == child.c.parent_instance))
            .where(child.c.status.in_(_TERMINAL), child.c.finished_at < finished_before,
                   parent.c.status.in_([Status.RUNNING.value, Status.PAUSED.value]),
                   _NODE.c.status == Status.RUNNING.value, _NODE.c.lease_expires_at.is_(None))
            .order_by(child.c.finished_at).limit(limit))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [WaitingParent(r.id, r.parent_id, r.node, r.instance) for r in rows
            if child_run_id(r.parent_id, int(r.attempt or 1), r.node, r.instance, int(r.retries or 0)) == r.id]


def orphaned_children(engine: Engine, limit: int = 500) -> list[tuple[str, str]]:
    """(run id, engine) of active child runs whose parent run has ended (a lost cancel cascade)."""
    child, parent = aliased(_RUN), aliased(_RUN)
    stmt = (select(child.c.id, child.c.engine).select_from(child)
            .join(parent, parent.c.id == child.c.parent_run_id)
            .where(child.c.status.in_(_ACTIVE), parent.c.status.in_(_TERMINAL))
            .order_by(child.c.id).limit(limit))
    with engine.connect() as conn:
        return [(r.id, r.engine) for r in conn.execute(stmt)]


def parent_of(row: dict[str, Any]) -> dict[str, Any] | None:
    """The parent link of a run record, or None for a top-level run."""
    if not row.get("parent_run_id"):
        return None
    return {"run_id": row["parent_run_id"], "node": row.get("parent_node"),
            "instance": row.get("parent_instance") or ""}

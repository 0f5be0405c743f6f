"""The general node completion: a node's terminal transition and its whole FinishPlan in one transaction.

Covers every plan (skips, split instances, join arming, concurrency gates); `pypeline.store.hotpath` does
the common release-only case in one statement and falls back to this module for everything else.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, case, insert, select, update

from pypeline.status import ACTIVE, Status, check_transition
from pypeline.store.models import NodeRun, PipelineRun, utcnow
from pypeline.store.outcomes import CompletionOutcome, FinishPlan, Gate, NodeSpec
from pypeline.store.rows import CHUNK, Pair, by_instance, chunks
from pypeline.store.transitions import (
    Running,
    RunningCheck,
    count_down,
    move_nodes,
    queue_ready,
    queued_in,
    run_lock_first,
)

__all__ = ["apply_finish", "not_finished", "node_rows", "RELEASE_TRANSITION"]

_RUN = PipelineRun.__table__
_NODE = NodeRun.__table__
#: The transition a release applies inline to rows whose last upstream finished (checked at import).
RELEASE_TRANSITION = (Status.PENDING, check_transition(Status.PENDING, Status.QUEUED, node=True))


def node_rows(run_id: str, specs: Sequence[NodeSpec], status: Any, now: Any) -> list[dict[str, Any]]:
    """INSERT parameters of new node rows; `status(spec)` gives each row's initial status."""
    return [
        {"run_id": run_id, "node": n.node, "instance": n.instance, "handler": n.handler, "queue": n.queue,
         "status": status(n).value, "remaining": n.upstreams, "attempts": 0, "retries": 0,
         "created_at": now, "updated_at": now}
        for n in specs
    ]


def apply_finish(
    conn: Connection, run_id: str, node: str, instance: str, status: Status, values: dict[str, Any],
    plan: FinishPlan, error: str | None,
) -> CompletionOutcome | None:
    """Move the running node to `status` and apply `plan`; None when the node was not running (nothing changed)."""
    moved = move_nodes(conn, run_id, [node], status, instance=instance, only_from=(Status.RUNNING, Status.RETRYING),
                       values=values, extra=run_lock_first(conn, run_id))
    if not moved:
        return None
    if status is Status.FAILED:
        conn.execute(update(_RUN).where(_RUN.c.id == run_id, _RUN.c.failed_node.is_(None))
                     .values(failed_node=node, error=error))
    skipped = _skip_rows(conn, run_id, plan.skip, plan.skip_error)
    running = RunningCheck(conn, run_id)
    ready: list[Pair] = []
    if plan.spawn:
        ready += _spawn(conn, run_id, plan.spawn, running)
    if plan.arm:
        ready += _arm(conn, run_id, plan.arm, running)
    if plan.release:
        ready += release(conn, run_id, plan.release)
    for gate in plan.gates:
        ready += _open_gate(conn, run_id, gate, running)
    run_status = count_down(conn, run_id, 1 + len(skipped))
    return CompletionOutcome(applied=True, ready=[n for n, i in ready if i == instance], run_status=run_status,
                             skipped=[n for n, _ in skipped], dispatch=ready)


def not_finished(
    conn: Connection, run_id: str, node: str, instance: str, status: Status, plan: FinishPlan, task_id: str | None,
) -> CompletionOutcome:
    """Outcome of a finish that moved nothing: a duplicate, or our own earlier commit seen again."""
    same = [n for n, i in plan.release if i == instance]
    requeue = queued_in(conn, run_id, same, instance)
    if task_id is None:
        return CompletionOutcome(applied=False, requeue=requeue)
    row = conn.execute(select(_NODE.c.status, _NODE.c.task_id).where(
        _NODE.c.run_id == run_id, _NODE.c.node == node, _NODE.c.instance == instance)).first()
    if row is None or row.status != status.value or row.task_id != task_id:
        return CompletionOutcome(applied=False, requeue=requeue)
    queued: list[Pair] = []
    wanted = [*plan.release, *((n.node, n.instance) for n in plan.spawn), *plan.arm]
    for inst, nodes in by_instance(wanted).items():
        queued.extend((n, inst) for n in queued_in(conn, run_id, nodes, inst))
    run_status = Status(conn.execute(select(_RUN.c.status).where(_RUN.c.id == run_id)).scalar_one())
    return CompletionOutcome(applied=True, already=True, requeue=requeue, dispatch=queued,
                             ready=[n for n, i in queued if i == instance],
                             run_status=run_status if run_status.is_terminal else None)


def release(conn: Connection, run_id: str, counts: dict[Pair, int]) -> list[Pair]:
    """Count finished upstreams off rows; those with none left go PENDING -> QUEUED in the same statement.

    One UPDATE per batch: the QUEUED move is guarded like `move_nodes` (only from PENDING, see
    `RELEASE_TRANSITION`) and skipped while the run is not RUNNING (paused: resume() queues them), read by
    a subquery instead of a separate SELECT.
    """
    groups: dict[tuple[str, int], list[str]] = {}
    for (node, inst), n in counts.items():
        groups.setdefault((inst, n), []).append(node)
    live = select(_RUN.c.status).where(_RUN.c.id == run_id).scalar_subquery() == Status.RUNNING.value
    now = utcnow()
    out: list[Pair] = []
    for (inst, n), nodes in groups.items():
        left = _NODE.c.remaining - n
        ready = and_(left <= 0, _NODE.c.status == RELEASE_TRANSITION[0].value, live)
        for batch in chunks(nodes):
            rows = conn.execute(
                update(_NODE).where(_NODE.c.run_id == run_id, _NODE.c.instance == inst, _NODE.c.node.in_(batch))
                .values(remaining=left, status=case((ready, RELEASE_TRANSITION[1].value), else_=_NODE.c.status),
                        updated_at=case((ready, now), else_=_NODE.c.updated_at))
                .returning(_NODE.c.node, _NODE.c.remaining, _NODE.c.status)
            )
            # Moved by this statement: it had upstreams left before (rem > -n) and none now, and is QUEUED.
            out.extend((node, inst) for node, rem, st in rows
                       if -n < rem <= 0 and st == RELEASE_TRANSITION[1].value)
    return out


def _skip_rows(conn: Connection, run_id: str, pairs: Sequence[Pair], error: str | None) -> list[Pair]:
    out: list[Pair] = []
    for inst, nodes in by_instance(pairs).items():
        out.extend((n, inst) for n in move_nodes(
            conn, run_id, nodes, Status.SKIPPED, instance=inst, only_from=(Status.PENDING, Status.QUEUED),
            values={"error": error, "result_summary": None if error else "filtered out (upstream dropped)"}))
    return out


def _spawn(conn: Connection, run_id: str, specs: Sequence[NodeSpec], running: Running) -> list[Pair]:
    """Insert dynamic rows (split instances); rows with no upstream left start QUEUED."""
    live = running()
    rows = node_rows(run_id, specs, lambda n: Status.QUEUED if live and n.upstreams <= 0 else Status.PENDING,
                     utcnow())
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(_NODE), rows[i : i + CHUNK])
    conn.execute(update(_RUN).where(_RUN.c.id == run_id).values(
        nodes_left=_RUN.c.nodes_left + len(rows), nodes_total=_RUN.c.nodes_total + len(rows)))
    return [(n.node, n.instance) for n in specs if live and n.upstreams <= 0]


def _arm(conn: Connection, run_id: str, arm: dict[Pair, int], running: Running) -> list[Pair]:
    """Set how many upstream completions a waiting row still needs (a split join's fan-in size)."""
    zero: list[Pair] = []
    for (node, inst), n in arm.items():
        res = conn.execute(update(_NODE).where(
            _NODE.c.run_id == run_id, _NODE.c.node == node, _NODE.c.instance == inst,
            _NODE.c.status == Status.PENDING.value).values(remaining=n))
        if res.rowcount and n <= 0:
            zero.append((node, inst))
    return queue_ready(conn, run_id, zero, running)


def _open_gate(conn: Connection, run_id: str, gate: Gate, running: Running) -> list[Pair]:
    """If `gate.instance` is finished, release the next held instance of the split (lowest index first)."""
    lock = select(_NODE.c.id).where(_NODE.c.run_id == run_id, _NODE.c.node == gate.split,
                                    _NODE.c.instance == gate.split_instance)
    if conn.dialect.name == "postgresql":
        lock = lock.with_for_update()  # serialise the "instance finished?" check of concurrent finishers
    conn.execute(lock).first()
    busy = conn.execute(select(_NODE.c.id).where(
        _NODE.c.run_id == run_id,
        (_NODE.c.instance == gate.instance) | _NODE.c.instance.like(gate.instance + ".%"),
        _NODE.c.status.in_([s.value for s in ACTIVE])).limit(1)).first()
    if busy is not None:
        return []
    pattern = gate.split_instance + ".%" if gate.split_instance else "%"
    while True:
        held = conn.execute(select(_NODE.c.instance).where(
            _NODE.c.run_id == run_id, _NODE.c.node.in_(gate.entries), _NODE.c.instance.like(pattern),
            _NODE.c.status == Status.PENDING.value, _NODE.c.remaining > 0).order_by(_NODE.c.id).limit(1)).first()
        if held is None:
            return []
        rows = conn.execute(update(_NODE).where(
            _NODE.c.run_id == run_id, _NODE.c.node.in_(gate.entries), _NODE.c.instance == held.instance,
            _NODE.c.status == Status.PENDING.value, _NODE.c.remaining > 0,
        ).values(remaining=_NODE.c.remaining - 1).returning(_NODE.c.node, _NODE.c.remaining)).all()
        if rows:  # else a concurrent finisher released that instance first: try the next one
            zero = [(n, held.instance) for n, rem in rows if rem <= 0]
            return queue_ready(conn, run_id, zero, running)

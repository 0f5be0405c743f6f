"""Repository API over the run store: every run/node status change is a guarded, atomic SQL update."""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from pypeline.errors import InvalidTransitionError, NotFoundError
from pypeline.status import TERMINAL, Status, allowed_sources, check_transition
from pypeline.store.db import make_engine, migrate
from pypeline.store.models import NodeRun, PipelineRun, RunEvent, utcnow

__all__ = ["RunStore", "NodeSpec", "CompletionOutcome", "ClaimOutcome", "summarize"]

_RUN = PipelineRun.__table__
_NODE = NodeRun.__table__
_EVENT = RunEvent.__table__
#: Bound parameters per IN (...) clause; far below SQLite's and PostgreSQL's limits.
_CHUNK = 500


def summarize(value: Any, limit: int = 200) -> str:
    """A short, human-readable JSON rendering of a result for lists and dashboards."""
    try:
        text = json.dumps(value, default=str, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


@dataclass(frozen=True)
class NodeSpec:
    """A node row to create for a new run."""

    node: str
    handler: str
    queue: str | None
    upstreams: int
    instance: str = ""


@dataclass
class ClaimOutcome:
    """What a worker learns when it tries to start a node."""

    claimed: bool
    status: Status  # the node's status after the attempt
    attempts: int = 0


@dataclass
class CompletionOutcome:
    """What finishing (or failing) a node changed."""

    applied: bool  # False when the node was already finished (a redelivered message)
    ready: list[str] = field(default_factory=list)  # successors to publish now
    requeue: list[str] = field(default_factory=list)  # successors queued but maybe never published
    run_status: Status | None = None  # set when this change finished the run
    skipped: list[str] = field(default_factory=list)


class RunStore:
    """Reads and writes runs, node runs and events; safe for many workers at once."""

    def __init__(self, url: str, *, auto_migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if auto_migrate:
            migrate(url)

    # ----------------------------------------------------------------- transitions
    def _move_nodes(
        self,
        conn: Connection,
        run_id: str,
        nodes: Sequence[str] | None,
        target: Status,
        *,
        instance: str | None = "",
        only_from: Iterable[Status] | None = None,
        values: dict[str, Any] | None = None,
    ) -> list[str]:
        """Move nodes to `target` where the state machine allows it; returns the nodes moved."""
        sources = allowed_sources(target, node=True)
        if only_from is not None:
            sources = sources & frozenset(only_from)
        vals = {"status": target.value, "updated_at": utcnow(), **(values or {})}
        if target.is_terminal:
            vals.setdefault("finished_at", utcnow())
        base = [_NODE.c.run_id == run_id, _NODE.c.status.in_([s.value for s in sources])]
        if instance is not None:
            base.append(_NODE.c.instance == instance)
        moved: list[str] = []
        batches: Iterable[Sequence[str] | None] = [None] if nodes is None else _chunks(list(nodes))
        for batch in batches:
            cond = list(base)
            if batch is not None:
                cond.append(_NODE.c.node.in_(batch))
            rows = conn.execute(update(_NODE).where(and_(*cond)).values(**vals).returning(_NODE.c.node))
            moved.extend(r[0] for r in rows)
        return moved

    def _move_run(self, conn: Connection, run_id: str, target: Status, **values: Any) -> bool:
        """Move a run to `target` if allowed from its current status; True when it moved."""
        sources = [s.value for s in allowed_sources(target, node=False)]
        vals: dict[str, Any] = {"status": target.value, "updated_at": utcnow(), **values}
        if target.is_terminal:
            vals.setdefault("finished_at", utcnow())
        res = conn.execute(update(_RUN).where(_RUN.c.id == run_id, _RUN.c.status.in_(sources)).values(**vals))
        return res.rowcount == 1

    def _count_down(self, conn: Connection, run_id: str, n: int) -> Status | None:
        """Subtract `n` finished nodes from the run; finalise it when none are left."""
        if n <= 0:
            return None
        row = conn.execute(
            update(_RUN).where(_RUN.c.id == run_id).values(nodes_left=_RUN.c.nodes_left - n)
            .returning(_RUN.c.nodes_left, _RUN.c.status)
        ).one()
        if row.nodes_left > 0 or Status(row.status) not in (Status.RUNNING, Status.PAUSED):
            return None
        return self._finalize(conn, run_id)

    def _finalize(self, conn: Connection, run_id: str) -> Status | None:
        failed = conn.execute(
            select(_NODE.c.node, _NODE.c.error).where(_NODE.c.run_id == run_id, _NODE.c.status == Status.FAILED.value)
            .limit(1)
        ).first()
        leaf_names = conn.execute(select(_RUN.c.leaves).where(_RUN.c.id == run_id)).scalar_one() or []
        result: dict[str, Any] = {}
        for batch in _chunks(leaf_names):
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
        moved = self._move_run(conn, run_id, target, result=result)
        return target if moved else None

    # ----------------------------------------------------------------- runs
    def create_run(
        self,
        run_id: str,
        pipeline_id: str,
        nodes: Sequence[NodeSpec],
        *,
        leaves: Sequence[str],
        payload: Any = None,
        engine: str = "event",
        origin: str | None = None,
    ) -> list[str]:
        """Create a RUNNING run with its node rows; returns the root nodes, already QUEUED."""
        now = utcnow()
        roots = [n.node for n in nodes if n.upstreams == 0]
        with self.engine.begin() as conn:
            conn.execute(insert(_RUN).values(
                id=run_id, pipeline_id=pipeline_id, engine=engine, status=Status.RUNNING.value, attempt=1,
                payload=payload, leaves=list(leaves), nodes_total=len(nodes),
                nodes_left=len(nodes), origin=origin, created_at=now, started_at=now, updated_at=now,
            ))
            rows = [
                {"run_id": run_id, "node": n.node, "instance": n.instance, "handler": n.handler, "queue": n.queue,
                 "status": (Status.QUEUED if n.upstreams == 0 else Status.PENDING).value, "remaining": n.upstreams,
                 "attempts": 0, "retries": 0, "created_at": now, "updated_at": now}
                for n in nodes
            ]
            for i in range(0, len(rows), _CHUNK):
                conn.execute(insert(_NODE), rows[i : i + _CHUNK])
        return roots

    def add_nodes(self, run_id: str, nodes: Sequence[NodeSpec]) -> None:
        """Add node rows to a live run (dynamic split instances), counting them as not yet finished."""
        now = utcnow()
        with self.engine.begin() as conn:
            rows = [
                {"run_id": run_id, "node": n.node, "instance": n.instance, "handler": n.handler, "queue": n.queue,
                 "status": Status.PENDING.value, "remaining": n.upstreams, "attempts": 0, "retries": 0,
                 "created_at": now, "updated_at": now}
                for n in nodes
            ]
            for i in range(0, len(rows), _CHUNK):
                conn.execute(insert(_NODE), rows[i : i + _CHUNK])
            conn.execute(update(_RUN).where(_RUN.c.id == run_id).values(
                nodes_left=_RUN.c.nodes_left + len(nodes), nodes_total=_RUN.c.nodes_total + len(nodes)))

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The run row as a dict (result unwrapped), or NotFoundError."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_RUN).where(_RUN.c.id == run_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"unknown run {run_id!r}")
        return _run_dict(row)

    def run_status(self, run_id: str) -> Status:
        """Just the status of a run (cheap, for waiting loops)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(_RUN.c.status).where(_RUN.c.id == run_id)).scalar()
        if value is None:
            raise NotFoundError(f"unknown run {run_id!r}")
        return Status(value)

    def list_runs(
        self,
        *,
        pipeline_id: str | None = None,
        status: str | None = None,
        origin: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Runs, newest first, with filters and paging; returns (page, total)."""
        cond = []
        if pipeline_id:
            cond.append(_RUN.c.pipeline_id == pipeline_id)
        if status:
            cond.append(_RUN.c.status == Status(status.upper()).value)
        if origin:
            cond.append(_RUN.c.origin == origin)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(_RUN).where(*cond)).scalar_one()
            rows = conn.execute(
                select(_RUN).where(*cond).order_by(_RUN.c.created_at.desc(), _RUN.c.id).limit(limit).offset(offset)
            ).mappings().all()
        return [_run_dict(r) for r in rows], int(total)

    def count_runs_by_status(self) -> dict[str, int]:
        """Number of runs per status (for metrics)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_RUN.c.status, func.count()).group_by(_RUN.c.status)).all()
        return {status: int(n) for status, n in rows}

    def node_runs(self, run_id: str) -> list[dict[str, Any]]:
        """Every node row of a run, in creation order."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_NODE).where(_NODE.c.run_id == run_id).order_by(_NODE.c.id)).mappings().all()
        return [_node_dict(r) for r in rows]

    def node_statuses(self, run_id: str) -> dict[str, str]:
        """node[/instance] -> status, for progress displays."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_NODE.c.node, _NODE.c.instance, _NODE.c.status).where(_NODE.c.run_id == run_id))
            return {(f"{n}[{i}]" if i else n): s for n, i, s in rows}

    def upstream_results(self, run_id: str, nodes: Sequence[str], instance: str = "") -> dict[str, Any]:
        """Results of the given (finished) nodes of a run, keyed by node name."""
        out: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for batch in _chunks(list(nodes)):
                rows = conn.execute(select(_NODE.c.node, _NODE.c.result).where(
                    _NODE.c.run_id == run_id, _NODE.c.instance == instance, _NODE.c.node.in_(batch),
                    _NODE.c.status == Status.SUCCESS.value))
                out.update({n: r for n, r in rows})
        return out

    # ----------------------------------------------------------------- node lifecycle
    def claim_node(self, run_id: str, node: str, task_id: str, instance: str = "") -> ClaimOutcome:
        """Mark a node RUNNING for this delivery; refused when it is finished, cancelled or not queued."""
        now = utcnow()
        with self.engine.begin() as conn:
            row = conn.execute(
                update(_NODE).where(
                    _NODE.c.run_id == run_id, _NODE.c.node == node, _NODE.c.instance == instance,
                    _NODE.c.status.in_([s.value for s in allowed_sources(Status.RUNNING, node=True)]),
                ).values(status=Status.RUNNING.value, attempts=_NODE.c.attempts + 1, task_id=task_id,
                         started_at=func.coalesce(_NODE.c.started_at, now), updated_at=now)
                .returning(_NODE.c.attempts)
            ).first()
            if row is not None:
                return ClaimOutcome(True, Status.RUNNING, row.attempts)
            current = conn.execute(select(_NODE.c.status, _NODE.c.attempts).where(
                _NODE.c.run_id == run_id, _NODE.c.node == node, _NODE.c.instance == instance)).first()
        if current is None:
            raise NotFoundError(f"run {run_id!r} has no node {node!r}")
        return ClaimOutcome(False, Status(current.status), current.attempts)

    def complete_node(
        self,
        run_id: str,
        node: str,
        result: Any,
        successors: Sequence[str],
        *,
        instance: str = "",
        skip: Sequence[str] = (),
    ) -> CompletionOutcome:
        """Record a node's success and, atomically, which successors became ready (all upstreams done)."""
        with self.engine.begin() as conn:
            moved = self._move_nodes(conn, run_id, [node], Status.SUCCESS, instance=instance,
                                     values={"result": result, "result_summary": summarize(result), "error": None})
            if not moved:
                queued = self._queued_in(conn, run_id, successors, instance)
                return CompletionOutcome(applied=False, requeue=queued)
            skipped = self._move_nodes(conn, run_id, list(skip), Status.SKIPPED, instance=instance,
                                       only_from=(Status.PENDING, Status.QUEUED)) if skip else []
            ready = self._release(conn, run_id, [s for s in successors if s not in set(skip)], instance)
            run_status = self._count_down(conn, run_id, 1 + len(skipped))
        return CompletionOutcome(applied=True, ready=ready, run_status=run_status, skipped=skipped)

    def queued_among(self, run_id: str, nodes: Sequence[str], instance: str = "") -> list[str]:
        """Which of `nodes` are QUEUED (published, or about to be, but not started)."""
        with self.engine.connect() as conn:
            return self._queued_in(conn, run_id, nodes, instance)

    def _queued_in(self, conn: Connection, run_id: str, nodes: Sequence[str], instance: str) -> list[str]:
        if not nodes:
            return []
        out: list[str] = []
        for batch in _chunks(list(nodes)):
            out.extend(r[0] for r in conn.execute(select(_NODE.c.node).where(
                _NODE.c.run_id == run_id, _NODE.c.instance == instance, _NODE.c.node.in_(batch),
                _NODE.c.status == Status.QUEUED.value)))
        return out

    def _release(self, conn: Connection, run_id: str, successors: Sequence[str], instance: str) -> list[str]:
        """Count one finished upstream off each successor; queue those with none left (unless paused)."""
        if not successors:
            return []
        zero: list[str] = []
        for batch in _chunks(list(successors)):
            rows = conn.execute(
                update(_NODE).where(_NODE.c.run_id == run_id, _NODE.c.instance == instance, _NODE.c.node.in_(batch))
                .values(remaining=_NODE.c.remaining - 1).returning(_NODE.c.node, _NODE.c.remaining, _NODE.c.status)
            )
            zero.extend(n for n, rem, st in rows if rem <= 0 and st == Status.PENDING.value)
        if not zero:
            return []
        run_status = conn.execute(select(_RUN.c.status).where(_RUN.c.id == run_id)).scalar_one()
        if run_status != Status.RUNNING.value:
            return []  # paused: resume() queues them; cancelled/failed-finalised: nothing more runs
        return self._move_nodes(conn, run_id, zero, Status.QUEUED, instance=instance, only_from=(Status.PENDING,))

    def retry_node(self, run_id: str, node: str, error: str, tb: str, *, instance: str = "") -> bool:
        """Record a failed attempt that will be retried; False if the node was not running."""
        with self.engine.begin() as conn:
            moved = self._move_nodes(conn, run_id, [node], Status.RETRYING, instance=instance,
                                     values={"error": error, "traceback": tb, "retries": _NODE.c.retries + 1})
        return bool(moved)

    def fail_node(
        self,
        run_id: str,
        node: str,
        error: str,
        tb: str,
        descendants: Sequence[str],
        *,
        instance: str = "",
    ) -> CompletionOutcome:
        """Record a node's final failure, skip its descendants, and finalise the run if nothing is left."""
        with self.engine.begin() as conn:
            moved = self._move_nodes(conn, run_id, [node], Status.FAILED, instance=instance,
                                     values={"error": error, "traceback": tb})
            if not moved:
                return CompletionOutcome(applied=False)
            conn.execute(update(_RUN).where(_RUN.c.id == run_id, _RUN.c.failed_node.is_(None))
                         .values(failed_node=node, error=error))
            skipped = self._move_nodes(conn, run_id, list(descendants), Status.SKIPPED, instance=instance,
                                       only_from=(Status.PENDING, Status.QUEUED),
                                       values={"error": f"upstream node {node!r} failed"})
            run_status = self._count_down(conn, run_id, 1 + len(skipped))
        return CompletionOutcome(applied=True, run_status=run_status, skipped=skipped)

    # ----------------------------------------------------------------- run control
    def cancel_run(self, run_id: str) -> list[str]:
        """Cancel a run: unstarted nodes never start; returns Celery task ids of running nodes to revoke."""
        with self.engine.begin() as conn:
            status = self._status_for_update(conn, run_id)
            check_transition(status, Status.CANCELLED, node=False)
            running = [r[0] for r in conn.execute(select(_NODE.c.task_id).where(
                _NODE.c.run_id == run_id, _NODE.c.status.in_([Status.RUNNING.value, Status.RETRYING.value]),
                _NODE.c.task_id.is_not(None)))]
            self._move_nodes(conn, run_id, None, Status.CANCELLED, instance=None,
                             only_from=(Status.PENDING, Status.QUEUED, Status.RUNNING, Status.RETRYING))
            self._move_run(conn, run_id, Status.CANCELLED, nodes_left=0)
        return running

    def pause_run(self, run_id: str) -> None:
        """Pause a run: running nodes finish, but no new node is dispatched until resume."""
        with self.engine.begin() as conn:
            check_transition(self._status_for_update(conn, run_id), Status.PAUSED, node=False)
            self._move_run(conn, run_id, Status.PAUSED, finished_at=None)

    def resume_run(self, run_id: str) -> list[tuple[str, str]]:
        """Resume a paused run; returns (node, instance) pairs that became ready while paused, now QUEUED."""
        with self.engine.begin() as conn:
            check_transition(self._status_for_update(conn, run_id), Status.RUNNING, node=False)
            self._move_run(conn, run_id, Status.RUNNING)
            ready = conn.execute(select(_NODE.c.node, _NODE.c.instance).where(
                _NODE.c.run_id == run_id, _NODE.c.status == Status.PENDING.value, _NODE.c.remaining <= 0)).all()
            pairs = [(n, i) for n, i in ready]
            for inst in {i for _, i in pairs}:
                self._move_nodes(conn, run_id, [n for n, i in pairs if i == inst], Status.QUEUED, instance=inst,
                                 only_from=(Status.PENDING,))
            # Nothing left to run (every node finished while paused): finish the run now.
            left = conn.execute(select(_RUN.c.nodes_left).where(_RUN.c.id == run_id)).scalar_one()
            if left <= 0 and not pairs:
                self._finalize(conn, run_id)
        return pairs

    def prepare_rerun(self, run_id: str, predecessors: dict[str, Sequence[str]]) -> list[str]:
        """Start a new attempt of a failed/cancelled run: only unfinished nodes run again; returns ready nodes."""
        with self.engine.begin() as conn:
            status = self._status_for_update(conn, run_id)
            if status not in (Status.FAILED, Status.CANCELLED):
                raise InvalidTransitionError(f"only FAILED or CANCELLED runs can be retried; run is {status}")
            done = {r[0] for r in conn.execute(select(_NODE.c.node).where(
                _NODE.c.run_id == run_id, _NODE.c.instance == "", _NODE.c.status == Status.SUCCESS.value))}
            redo = [n for n in predecessors if n not in done]
            # Dynamic split instances are recreated by their splitter; drop stale unfinished ones.
            conn.execute(_NODE.delete().where(_NODE.c.run_id == run_id, _NODE.c.instance != "",
                                              _NODE.c.status != Status.SUCCESS.value))
            moved = self._move_nodes(conn, run_id, redo, Status.PENDING,
                                     values={"error": None, "traceback": None, "finished_at": None,
                                             "result": None, "result_summary": None})
            for node in moved:
                remaining = sum(1 for p in predecessors[node] if p not in done)
                conn.execute(update(_NODE).where(_NODE.c.run_id == run_id, _NODE.c.node == node,
                                                 _NODE.c.instance == "").values(remaining=remaining))
            self._move_run(conn, run_id, Status.RUNNING, attempt=_RUN.c.attempt + 1, nodes_left=len(moved),
                           failed_node=None, error=None, finished_at=None)
            roots = [n for n in moved if all(p in done for p in predecessors[n])]
            return self._move_nodes(conn, run_id, roots, Status.QUEUED, only_from=(Status.PENDING,))

    def _status_for_update(self, conn: Connection, run_id: str) -> Status:
        stmt = select(_RUN.c.status).where(_RUN.c.id == run_id)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        value = conn.execute(stmt).scalar()
        if value is None:
            raise NotFoundError(f"unknown run {run_id!r}")
        return Status(value)

    def requeue_nodes(self, run_id: str, nodes: Sequence[str], instance: str = "") -> list[str]:
        """Mark nodes QUEUED again before re-publishing them (lost-message recovery)."""
        with self.engine.begin() as conn:
            return self._move_nodes(conn, run_id, nodes, Status.QUEUED, instance=instance,
                                    only_from=(Status.QUEUED, Status.PENDING))

    # ----------------------------------------------------------------- events
    def add_event(self, run_id: str, name: str, data: Any = None, node: str | None = None) -> int:
        """Record a named event on a run; returns its id."""
        with self.engine.begin() as conn:
            exists = conn.execute(select(_RUN.c.id).where(_RUN.c.id == run_id)).scalar()
            if exists is None:
                raise NotFoundError(f"unknown run {run_id!r}")
            res = conn.execute(insert(_EVENT).values(run_id=run_id, node=node, name=name, data=data,
                                                     created_at=utcnow()))
            return int(res.inserted_primary_key[0])

    def events(self, run_id: str, name: str | None = None) -> list[dict[str, Any]]:
        """Events recorded on a run, oldest first."""
        cond = [_EVENT.c.run_id == run_id]
        if name:
            cond.append(_EVENT.c.name == name)
        with self.engine.connect() as conn:
            rows = conn.execute(select(_EVENT).where(*cond).order_by(_EVENT.c.id)).mappings().all()
        return [{**dict(r), "created_at": _iso(r["created_at"])} for r in rows]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _run_dict(row: Any) -> dict[str, Any]:
    data = dict(row)
    for key in ("created_at", "started_at", "finished_at", "updated_at"):
        data[key] = _iso(data[key])
    data["status"] = Status(data["status"]).value
    data["terminal"] = Status(data["status"]) in TERMINAL
    return data


def _node_dict(row: Any) -> dict[str, Any]:
    data = dict(row)
    started, finished = data.get("started_at"), data.get("finished_at")
    data["duration"] = (finished - started).total_seconds() if started and finished else None
    for key in ("created_at", "started_at", "finished_at", "updated_at"):
        data[key] = _iso(data[key])
    return data

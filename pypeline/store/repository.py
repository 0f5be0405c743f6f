"""Repository API over the run store: every run/node status change is a guarded, atomic SQL update."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from pypeline.errors import InvalidTransitionError, NotFoundError
from pypeline.formats import iso_utc
from pypeline.settings import Settings
from pypeline.status import ACTIVE, TERMINAL, RunAction, Status, allowed_sources, check_action, check_transition
from pypeline.store.db import make_claim_engine, make_engine, migrate
from pypeline.store.leases import holder_id, live_lease
from pypeline.store.models import NodeRun, PipelineRun, RunEvent, utcnow
from pypeline.store.retry import DEFAULT_BUDGET_S, RetryPolicy, retry_call, retrying

__all__ = ["RunStore", "NodeSpec", "CompletionOutcome", "ClaimOutcome", "FinishPlan", "Gate", "summarize", "run_record"]

log = logging.getLogger(__name__)

_RUN = PipelineRun.__table__
_NODE = NodeRun.__table__
_EVENT = RunEvent.__table__
#: Bound parameters per IN (...) clause; far below SQLite's and PostgreSQL's limits.
_CHUNK = 500
#: A run with at least this many node rows refreshes the node table's planner statistics (PostgreSQL).
_ANALYZE_AT = 1000
#: (node, instance): one row of a run.
Pair = tuple[str, str]
#: The transition `_release` applies inline to rows whose last upstream finished (checked at import).
_RELEASE_TRANSITION = (Status.PENDING, check_transition(Status.PENDING, Status.QUEUED, node=True))


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
    #: True when this very delivery had recorded the same outcome already (its commit's reply was lost).
    already: bool = False
    ready: list[str] = field(default_factory=list)  # successors in the node's own instance to publish now
    requeue: list[str] = field(default_factory=list)  # successors queued but maybe never published
    run_status: Status | None = None  # set when this change finished the run
    skipped: list[str] = field(default_factory=list)
    #: Every (node, instance) row made ready by this change, in any instance: publish all of them.
    dispatch: list[Pair] = field(default_factory=list)


@dataclass(frozen=True)
class Gate:
    """A split with a concurrency cap: once `instance` has no unfinished row, its next held instance starts."""

    split: str
    split_instance: str  # the row of the split node ("" at the top level)
    instance: str  # the element instance whose rows may just have finished
    entries: tuple[str, ...]  # the nodes an element instance starts with (held back by one gate unit)


@dataclass
class FinishPlan:
    """Row changes that go with a node's terminal transition, applied in the same transaction."""

    #: (node, instance) -> upstream completions to count off; rows reaching 0 become ready.
    release: dict[Pair, int] = field(default_factory=dict)
    #: Rows to mark SKIPPED (only if not started yet).
    skip: list[Pair] = field(default_factory=list)
    #: Error recorded on skipped rows: why they were skipped (None: filtered out, which a rerun keeps).
    skip_error: str | None = None
    #: New rows (the instances of a split); those with no upstream left are ready at once.
    spawn: list[NodeSpec] = field(default_factory=list)
    #: (node, instance) -> upstream completions to wait for, set now (a split join learns its fan-in size).
    arm: dict[Pair, int] = field(default_factory=dict)
    #: Concurrency caps to check after the change.
    gates: list[Gate] = field(default_factory=list)


Running = Callable[[], bool]


class _RunningCheck:
    """Whether the run is RUNNING (not paused), read at most once per transaction and only if needed."""

    def __init__(self, conn: Connection, run_id: str) -> None:
        self.conn, self.run_id = conn, run_id
        self.value: bool | None = None

    def __call__(self) -> bool:
        if self.value is None:
            status = self.conn.execute(select(_RUN.c.status).where(_RUN.c.id == self.run_id)).scalar_one()
            self.value = status == Status.RUNNING.value
        return self.value


class RunStore:
    """Reads and writes runs, node runs and events; safe for many workers at once."""

    def __init__(
        self, url: str, *, auto_migrate: bool = True, retry_seconds: float = DEFAULT_BUDGET_S,
        lease_seconds: float = Settings.lease_seconds,
    ) -> None:
        self.url = url
        #: How long every public operation retries transient errors (lost connection, deadlock, lock).
        self.retry_policy = RetryPolicy(budget_s=retry_seconds)
        #: Seconds a claim's lease lasts before a heartbeat must renew it (see pypeline.store.leases).
        self.lease_seconds = lease_seconds
        self.engine = make_engine(url)
        #: Autocommit, no-fsync-wait engine for node claims (PostgreSQL); None: claims use `engine`.
        self.claim_engine = make_claim_engine(url)
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
        extra: Sequence[ColumnElement[bool]] = (),
    ) -> list[str]:
        """Move nodes to `target` where the state machine allows it; returns the nodes moved."""
        sources = allowed_sources(target, node=True)
        if only_from is not None:
            sources = sources & frozenset(only_from)
        vals = {"status": target.value, "updated_at": utcnow(), **(values or {})}
        if target.is_terminal:
            vals.setdefault("finished_at", utcnow())
        base = [_NODE.c.run_id == run_id, _NODE.c.status.in_([s.value for s in sources]), *extra]
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
        now = utcnow()  # fixed across retries: it tells our own landed insert from someone else's run
        roots = [n.node for n in nodes if n.upstreams == 0]

        def insert() -> int:
            try:
                return self._insert_run(run_id, pipeline_id, nodes, leaves, payload, engine, origin, now)
            except IntegrityError:
                if self._inserted_at(run_id) == now:
                    return len(nodes)  # a retry of our own insert whose commit landed but whose reply was lost
                raise

        count = retry_call(insert, self.retry_policy, "create_run")
        if count >= _ANALYZE_AT and self.engine.dialect.name == "postgresql":
            # Without statistics that know this run is big, PostgreSQL plans "these nodes of run R" as a scan
            # of all R's rows filtered by name: O(run size) for every fan-in/fan-out node (seen: 2x slower at 10k).
            try:
                with self.engine.begin() as conn:
                    conn.exec_driver_sql(f"ANALYZE {_NODE.name}")
            except SQLAlchemyError as exc:  # only planner statistics: the run exists, do not report it failed
                log.warning("could not refresh node table statistics after run %s: %s", run_id, exc)
        return roots

    def _inserted_at(self, run_id: str) -> datetime | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(_RUN.c.created_at).where(_RUN.c.id == run_id)).scalar()
        if value is not None and value.tzinfo is None:  # SQLite hands back naive UTC datetimes
            value = value.replace(tzinfo=timezone.utc)
        return value

    def _insert_run(
        self, run_id: str, pipeline_id: str, nodes: Sequence[NodeSpec], leaves: Sequence[str], payload: Any,
        engine: str, origin: str | None, now: datetime,
    ) -> int:
        with self.engine.begin() as conn:
            # A run reserved by pypeline.store.admission (PENDING, no nodes yet) becomes this run; else insert.
            reserved = conn.execute(update(_RUN).where(
                _RUN.c.id == run_id, _RUN.c.status == Status.PENDING.value, _RUN.c.nodes_total == 0).values(
                status=Status.RUNNING.value, payload=payload, leaves=list(leaves), nodes_total=len(nodes),
                nodes_left=len(nodes), started_at=now, updated_at=now)).rowcount
            if not reserved:
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
        return len(rows)

    @retrying
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

    @retrying
    def get_run(self, run_id: str) -> dict[str, Any]:
        """The run row as a dict (result unwrapped), or NotFoundError."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_RUN).where(_RUN.c.id == run_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"unknown run {run_id!r}")
        return _run_dict(row)

    @retrying
    def run_status(self, run_id: str) -> Status:
        """Just the status of a run (cheap, for waiting loops)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(_RUN.c.status).where(_RUN.c.id == run_id)).scalar()
        if value is None:
            raise NotFoundError(f"unknown run {run_id!r}")
        return Status(value)

    @retrying
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

    @retrying
    def count_runs_by_status(self) -> dict[str, int]:
        """Number of runs per status (for metrics)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_RUN.c.status, func.count()).group_by(_RUN.c.status)).all()
        return {status: int(n) for status, n in rows}

    @retrying
    def node_runs(self, run_id: str) -> list[dict[str, Any]]:
        """Every node row of a run, in creation order."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_NODE).where(_NODE.c.run_id == run_id).order_by(_NODE.c.id)).mappings().all()
        return [_node_dict(r) for r in rows]

    @retrying
    def node_statuses(self, run_id: str) -> dict[str, str]:
        """node[/instance] -> status, for progress displays."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_NODE.c.node, _NODE.c.instance, _NODE.c.status).where(_NODE.c.run_id == run_id))
            return {(f"{n}[{i}]" if i else n): s for n, i, s in rows}

    @retrying
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

    @retrying
    def node_states(self, run_id: str) -> list[tuple[str, str, str, str | None]]:
        """(node, instance, status, error) of every row of a run, in creation order (no results: cheap)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_NODE.c.node, _NODE.c.instance, _NODE.c.status, _NODE.c.error)
                                .where(_NODE.c.run_id == run_id).order_by(_NODE.c.id)).all()
        return [(n, i, s, e) for n, i, s, e in rows]

    @retrying
    def row_results(self, run_id: str, pairs: Sequence[Pair]) -> dict[Pair, tuple[str, Any]]:
        """(status, result) of the given rows, keyed by (node, instance); missing rows are left out."""
        out: dict[Pair, tuple[str, Any]] = {}
        with self.engine.connect() as conn:
            for inst, nodes in self._by_instance(pairs).items():
                for batch in _chunks(nodes):
                    rows = conn.execute(select(_NODE.c.node, _NODE.c.status, _NODE.c.result).where(
                        _NODE.c.run_id == run_id, _NODE.c.instance == inst, _NODE.c.node.in_(batch)))
                    out.update({(n, inst): (st, r) for n, st, r in rows})
        return out

    @retrying
    def split_element(self, run_id: str, node: str, instance: str, index: int) -> Any:
        """Element `index` of a split node's list result, extracted by the database (not the whole list)."""
        with self.engine.connect() as conn:
            return conn.execute(select(_NODE.c.result[index]).where(
                _NODE.c.run_id == run_id, _NODE.c.node == node, _NODE.c.instance == instance)).scalar()

    @retrying
    def instance_results(self, run_id: str, nodes: Sequence[str], parent: str) -> list[tuple[str, str, str, Any]]:
        """(node, instance, status, result) of the split instances of `nodes` directly under instance `parent`."""
        pattern = parent + ".%" if parent else "%"
        with self.engine.connect() as conn:
            rows = conn.execute(select(_NODE.c.node, _NODE.c.instance, _NODE.c.status, _NODE.c.result).where(
                _NODE.c.run_id == run_id, _NODE.c.node.in_(list(nodes)), _NODE.c.instance != "",
                _NODE.c.instance.like(pattern)).order_by(_NODE.c.id)).all()
        depth = parent.count(".") + 2 if parent else 1
        return [(n, i, st, r) for n, i, st, r in rows if i.count(".") + 1 == depth]

    # ----------------------------------------------------------------- node lifecycle
    @retrying
    def claim_node(self, run_id: str, node: str, task_id: str, instance: str = "") -> ClaimOutcome:
        """Mark a node RUNNING under a fresh lease; refused when it is finished, cancelled, not queued, or RUNNING
        under another delivery's live lease (that one is alive: the reconciler re-queues it if its lease expires)."""
        now = utcnow()
        # One statement, so no transaction is needed; on PostgreSQL it skips the commit fsync wait: a claim lost
        # in a database crash is harmless (the node is QUEUED again and its unacked message redelivers), and
        # the node's durable finish flushes it anyway.
        claim = self.claim_engine.connect() if self.claim_engine is not None else self.engine.begin()
        with claim as conn:
            row = conn.execute(
                update(_NODE).where(
                    _NODE.c.run_id == run_id, _NODE.c.node == node, _NODE.c.instance == instance,
                    _NODE.c.status.in_([s.value for s in allowed_sources(Status.RUNNING, node=True)]),
                    ~live_lease(now),  # a node running under a live lease is never run twice at once
                ).values(status=Status.RUNNING.value, attempts=_NODE.c.attempts + 1, task_id=task_id,
                         started_at=func.coalesce(_NODE.c.started_at, now), updated_at=now,
                         lease_expires_at=now + timedelta(seconds=self.lease_seconds), lease_holder=holder_id())
                .returning(_NODE.c.attempts)
            ).first()
            if row is not None:
                return ClaimOutcome(True, Status.RUNNING, row.attempts)
            current = conn.execute(select(_NODE.c.status, _NODE.c.attempts).where(
                _NODE.c.run_id == run_id, _NODE.c.node == node, _NODE.c.instance == instance)).first()
        if current is None:
            raise NotFoundError(f"run {run_id!r} has no node {node!r}")
        return ClaimOutcome(False, Status(current.status), current.attempts)

    @retrying
    def finish_node(
        self,
        run_id: str,
        node: str,
        status: Status,
        *,
        instance: str = "",
        result: Any = None,
        error: str | None = None,
        tb: str | None = None,
        summary: str | None = None,
        plan: FinishPlan | None = None,
        task_id: str | None = None,
    ) -> CompletionOutcome:
        """Move a running node to SUCCESS, FAILED or SKIPPED (filtered out) and apply `plan` atomically.

        Idempotent for one delivery: when the node already holds `status` under `task_id` (this call's
        earlier attempt committed but its reply was lost), the outcome says `already` and lists the
        successors that are QUEUED so the caller still publishes them.
        """
        if status not in (Status.SUCCESS, Status.FAILED, Status.SKIPPED):
            raise InvalidTransitionError(f"a running node cannot finish as {status}")
        plan = plan or FinishPlan()
        values: dict[str, Any] = {"result": result, "error": error,
                                  "result_summary": summary if summary is not None else summarize(result)}
        if status is Status.FAILED:
            values.update(traceback=tb, result_summary=None)
        with self.engine.begin() as conn:
            moved = self._move_nodes(conn, run_id, [node], status, instance=instance,
                                     only_from=(Status.RUNNING, Status.RETRYING), values=values,
                                     extra=self._run_lock_first(conn, run_id))
            if not moved:
                return self._not_finished(conn, run_id, node, instance, status, plan, task_id)
            if status is Status.FAILED:
                conn.execute(update(_RUN).where(_RUN.c.id == run_id, _RUN.c.failed_node.is_(None))
                             .values(failed_node=node, error=error))
            skipped = self._skip_rows(conn, run_id, plan.skip, plan.skip_error)
            running = _RunningCheck(conn, run_id)
            ready: list[Pair] = []
            if plan.spawn:
                ready += self._spawn(conn, run_id, plan.spawn, running)
            if plan.arm:
                ready += self._arm(conn, run_id, plan.arm, running)
            if plan.release:
                ready += self._release(conn, run_id, plan.release, running)
            for gate in plan.gates:
                ready += self._open_gate(conn, run_id, gate, running)
            run_status = self._count_down(conn, run_id, 1 + len(skipped))
        return CompletionOutcome(applied=True, ready=[n for n, i in ready if i == instance], run_status=run_status,
                                 skipped=[n for n, _ in skipped], dispatch=ready)

    def _run_lock_first(self, conn: Connection, run_id: str) -> list[ColumnElement[bool]]:
        """A condition making a node UPDATE lock the run row before any node row (PostgreSQL).

        Run control (cancel, pause, resume, retry) locks the run row and then node rows; finishing a node
        must take them in the same order or the two deadlock. As part of the node UPDATE this costs no
        extra round trip (the scalar subquery runs once, before the scan).
        """
        if conn.dialect.name != "postgresql":
            return []  # SQLite: BEGIN IMMEDIATE serialises writers already
        return [_NODE.c.run_id == select(_RUN.c.id).where(_RUN.c.id == run_id).with_for_update().scalar_subquery()]

    def _not_finished(
        self, conn: Connection, run_id: str, node: str, instance: str, status: Status, plan: FinishPlan,
        task_id: str | None,
    ) -> CompletionOutcome:
        """Outcome of a finish that moved nothing: a duplicate, or our own earlier commit seen again."""
        same = [n for n, i in plan.release if i == instance]
        requeue = self._queued_in(conn, run_id, same, instance)
        if task_id is None:
            return CompletionOutcome(applied=False, requeue=requeue)
        row = conn.execute(select(_NODE.c.status, _NODE.c.task_id).where(
            _NODE.c.run_id == run_id, _NODE.c.node == node, _NODE.c.instance == instance)).first()
        if row is None or row.status != status.value or row.task_id != task_id:
            return CompletionOutcome(applied=False, requeue=requeue)
        queued: list[Pair] = []
        wanted = [*plan.release, *((n.node, n.instance) for n in plan.spawn), *plan.arm]
        for inst, nodes in self._by_instance(wanted).items():
            queued.extend((n, inst) for n in self._queued_in(conn, run_id, nodes, inst))
        run_status = Status(conn.execute(select(_RUN.c.status).where(_RUN.c.id == run_id)).scalar_one())
        return CompletionOutcome(applied=True, already=True, requeue=requeue, dispatch=queued,
                                 ready=[n for n, i in queued if i == instance],
                                 run_status=run_status if run_status.is_terminal else None)

    @retrying
    def node_owner(self, run_id: str, node: str, instance: str = "") -> tuple[Status, str | None]:
        """A node row's status and the Celery task id that last claimed it."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_NODE.c.status, _NODE.c.task_id).where(
                _NODE.c.run_id == run_id, _NODE.c.node == node, _NODE.c.instance == instance)).first()
        if row is None:
            raise NotFoundError(f"run {run_id!r} has no node {node!r}")
        return Status(row.status), row.task_id

    @retrying
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

    def _by_instance(self, pairs: Iterable[Pair]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for node, instance in pairs:
            out.setdefault(instance, []).append(node)
        return out

    def _queue_ready(self, conn: Connection, run_id: str, pairs: Sequence[Pair], running: Running) -> list[Pair]:
        """Move ready PENDING rows to QUEUED (not while the run is paused: resume() queues them)."""
        if not pairs or not running():
            return []
        out: list[Pair] = []
        for inst, nodes in self._by_instance(pairs).items():
            out.extend((n, inst) for n in self._move_nodes(conn, run_id, nodes, Status.QUEUED, instance=inst,
                                                          only_from=(Status.PENDING,)))
        return out

    def _release(self, conn: Connection, run_id: str, counts: dict[Pair, int], running: Running) -> list[Pair]:
        """Count finished upstreams off rows; those with none left go PENDING -> QUEUED in the same statement.

        One UPDATE per batch (the hot path of every node): the QUEUED move is guarded like `_move_nodes`
        (only from PENDING, see `_RELEASE_TRANSITION`) and skipped while the run is not RUNNING (paused:
        resume() queues them), read by a subquery instead of a separate SELECT (so `running` is not used).
        """
        groups: dict[tuple[str, int], list[str]] = {}
        for (node, inst), n in counts.items():
            groups.setdefault((inst, n), []).append(node)
        live = select(_RUN.c.status).where(_RUN.c.id == run_id).scalar_subquery() == Status.RUNNING.value
        now = utcnow()
        out: list[Pair] = []
        for (inst, n), nodes in groups.items():
            left = _NODE.c.remaining - n
            ready = and_(left <= 0, _NODE.c.status == _RELEASE_TRANSITION[0].value, live)
            for batch in _chunks(nodes):
                rows = conn.execute(
                    update(_NODE).where(_NODE.c.run_id == run_id, _NODE.c.instance == inst, _NODE.c.node.in_(batch))
                    .values(remaining=left, status=case((ready, _RELEASE_TRANSITION[1].value), else_=_NODE.c.status),
                            updated_at=case((ready, now), else_=_NODE.c.updated_at))
                    .returning(_NODE.c.node, _NODE.c.remaining, _NODE.c.status)
                )
                # Moved by this statement: it had upstreams left before (rem > -n) and none now, and is QUEUED.
                out.extend((node, inst) for node, rem, st in rows
                           if -n < rem <= 0 and st == _RELEASE_TRANSITION[1].value)
        return out

    def _skip_rows(self, conn: Connection, run_id: str, pairs: Sequence[Pair], error: str | None) -> list[Pair]:
        out: list[Pair] = []
        for inst, nodes in self._by_instance(pairs).items():
            out.extend((n, inst) for n in self._move_nodes(conn, run_id, nodes, Status.SKIPPED, instance=inst,
                                                          only_from=(Status.PENDING, Status.QUEUED),
                                                          values={"error": error, "result_summary": None if error
                                                                  else "filtered out (upstream dropped)"}))
        return out

    def _spawn(self, conn: Connection, run_id: str, specs: Sequence[NodeSpec], running: Running) -> list[Pair]:
        """Insert dynamic rows (split instances); rows with no upstream left start QUEUED."""
        now = utcnow()
        live = running()
        rows = [
            {"run_id": run_id, "node": n.node, "instance": n.instance, "handler": n.handler, "queue": n.queue,
             "status": (Status.QUEUED if live and n.upstreams <= 0 else Status.PENDING).value,
             "remaining": n.upstreams, "attempts": 0, "retries": 0, "created_at": now, "updated_at": now}
            for n in specs
        ]
        for i in range(0, len(rows), _CHUNK):
            conn.execute(insert(_NODE), rows[i : i + _CHUNK])
        conn.execute(update(_RUN).where(_RUN.c.id == run_id).values(
            nodes_left=_RUN.c.nodes_left + len(rows), nodes_total=_RUN.c.nodes_total + len(rows)))
        return [(n.node, n.instance) for n in specs if live and n.upstreams <= 0]

    def _arm(self, conn: Connection, run_id: str, arm: dict[Pair, int], running: Running) -> list[Pair]:
        """Set how many upstream completions a waiting row still needs (a split join's fan-in size)."""
        zero: list[Pair] = []
        for (node, inst), n in arm.items():
            res = conn.execute(update(_NODE).where(
                _NODE.c.run_id == run_id, _NODE.c.node == node, _NODE.c.instance == inst,
                _NODE.c.status == Status.PENDING.value).values(remaining=n))
            if res.rowcount and n <= 0:
                zero.append((node, inst))
        return self._queue_ready(conn, run_id, zero, running)

    def _open_gate(self, conn: Connection, run_id: str, gate: Gate, running: Running) -> list[Pair]:
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
                return self._queue_ready(conn, run_id, zero, running)

    @retrying
    def retry_node(self, run_id: str, node: str, error: str, tb: str, *, instance: str = "",
                   task_id: str | None = None) -> bool:
        """Record a failed attempt that will be retried; False if the node was not running.

        With `task_id`, a node already RETRYING under that task (this call's earlier attempt committed but
        its reply was lost) also answers True, so the retry is still scheduled.
        """
        with self.engine.begin() as conn:
            moved = self._move_nodes(conn, run_id, [node], Status.RETRYING, instance=instance,
                                     values={"error": error, "traceback": tb, "retries": _NODE.c.retries + 1})
            if moved or task_id is None:
                return bool(moved)
            row = conn.execute(select(_NODE.c.status, _NODE.c.task_id).where(
                _NODE.c.run_id == run_id, _NODE.c.node == node, _NODE.c.instance == instance)).first()
        return row is not None and row.status == Status.RETRYING.value and row.task_id == task_id

    @retrying
    def fail_node(
        self,
        run_id: str,
        node: str,
        error: str,
        tb: str,
        descendants: Sequence[str],
        *,
        instance: str = "",
        plan: FinishPlan | None = None,
    ) -> CompletionOutcome:
        """Record a node's final failure, skip its descendants (or `plan.skip`), finalise the run if nothing is left."""
        plan = plan or FinishPlan(skip=[(d, instance) for d in descendants])
        plan.skip_error = f"upstream node {node!r} failed"
        return self.finish_node(run_id, node, Status.FAILED, instance=instance, error=error, tb=tb, plan=plan)

    # ----------------------------------------------------------------- run control
    @retrying
    def cancel_run(self, run_id: str) -> list[str]:
        """Cancel a run: unstarted nodes never start; returns Celery task ids of running nodes to revoke."""
        with self.engine.begin() as conn:
            check_action(self._status_for_update(conn, run_id), RunAction.CANCEL)
            running = [r[0] for r in conn.execute(select(_NODE.c.task_id).where(
                _NODE.c.run_id == run_id, _NODE.c.status.in_([Status.RUNNING.value, Status.RETRYING.value]),
                _NODE.c.task_id.is_not(None)))]
            self._move_nodes(conn, run_id, None, Status.CANCELLED, instance=None,
                             only_from=(Status.PENDING, Status.QUEUED, Status.RUNNING, Status.RETRYING))
            self._move_run(conn, run_id, Status.CANCELLED, nodes_left=0)
        return running

    @retrying
    def pause_run(self, run_id: str) -> None:
        """Pause a run: running nodes finish, but no new node is dispatched until resume."""
        with self.engine.begin() as conn:
            check_action(self._status_for_update(conn, run_id), RunAction.PAUSE)
            self._move_run(conn, run_id, Status.PAUSED, finished_at=None)

    @retrying
    def resume_run(self, run_id: str) -> list[tuple[str, str]]:
        """Resume a paused run; returns (node, instance) pairs that became ready while paused, now QUEUED."""
        with self.engine.begin() as conn:
            check_action(self._status_for_update(conn, run_id), RunAction.RESUME)
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
        """New attempt of a failed/cancelled run without splits: unfinished nodes run again; returns ready nodes."""
        states = self.node_states(run_id)
        done = {n for n, i, s, e in states
                if not i and (s == Status.SUCCESS.value or (s == Status.SKIPPED.value and e is None))}
        plan = {(n, ""): sum(1 for p in predecessors[n] if p not in done) for n in predecessors if n not in done}
        return [n for n, _ in self.restart_run(run_id, plan)]

    @retrying
    def restart_run(self, run_id: str, plan: dict[Pair, int]) -> list[Pair]:
        """Rerun a FAILED/CANCELLED run: `plan` rows go back to PENDING with their upstream counts; returns ready rows.

        Rows not in the plan keep their status and result (they are reused as upstream results).
        """
        now = utcnow()
        with self.engine.begin() as conn:
            check_action(self._status_for_update(conn, run_id), RunAction.RETRY)
            sources = [s.value for s in allowed_sources(Status.PENDING, node=True)]
            params = [{"b_node": n, "b_inst": i, "b_rem": r} for (n, i), r in plan.items()]
            for i in range(0, len(params), _CHUNK):
                conn.execute(
                    update(_NODE).where(_NODE.c.run_id == run_id, _NODE.c.node == bindparam("b_node"),
                                        _NODE.c.instance == bindparam("b_inst"),
                                        or_(*(_NODE.c.status == src for src in sources)))  # no IN in executemany
                    .values(status=Status.PENDING.value, remaining=bindparam("b_rem"), error=None, traceback=None,
                            result=None, result_summary=None, finished_at=None, updated_at=now),
                    params[i : i + _CHUNK])
            left = conn.execute(select(func.count()).select_from(_NODE).where(
                _NODE.c.run_id == run_id, _NODE.c.status.in_([s.value for s in ACTIVE]))).scalar_one()
            self._move_run(conn, run_id, Status.RUNNING, attempt=_RUN.c.attempt + 1, nodes_left=left,
                           failed_node=None, error=None, result=None, finished_at=None)
            ready = [pair for pair, remaining in plan.items() if remaining <= 0]
            queued = self._queue_ready(conn, run_id, ready, lambda: True)
            if left == 0:
                self._finalize(conn, run_id)
        return queued

    @retrying
    def fail_run(self, run_id: str, error: str) -> bool:
        """End an active run FAILED with `error` (its orchestration broke): unstarted nodes are skipped.

        Returns False when the run had ended already. Nodes still running finish normally but no longer
        change the run.
        """
        with self.engine.begin() as conn:
            if self._status_for_update(conn, run_id).is_terminal:
                return False
            self._move_nodes(conn, run_id, None, Status.SKIPPED, instance=None,
                             only_from=(Status.PENDING, Status.QUEUED),
                             values={"error": f"run failed: {error}"})
            self._move_nodes(conn, run_id, None, Status.FAILED, instance=None, only_from=(Status.RETRYING,),
                             values={"error": f"run failed: {error}"})
            return self._move_run(conn, run_id, Status.FAILED, nodes_left=0, error=error)

    def _status_for_update(self, conn: Connection, run_id: str) -> Status:
        stmt = select(_RUN.c.status).where(_RUN.c.id == run_id)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        value = conn.execute(stmt).scalar()
        if value is None:
            raise NotFoundError(f"unknown run {run_id!r}")
        return Status(value)

    @retrying
    def stale_queued(self, older_than: datetime, limit: int = 10_000) -> list[tuple[str, str, str]]:
        """(run_id, node, instance) of QUEUED rows of RUNNING runs untouched since `older_than` (lost messages?)."""
        stmt = (select(_NODE.c.run_id, _NODE.c.node, _NODE.c.instance)
                .join(_RUN, _RUN.c.id == _NODE.c.run_id)
                .where(_RUN.c.status == Status.RUNNING.value, _NODE.c.status == Status.QUEUED.value,
                       _NODE.c.updated_at < older_than)
                .order_by(_NODE.c.run_id, _NODE.c.id).limit(limit))
        with self.engine.connect() as conn:
            return [(r, n, i) for r, n, i in conn.execute(stmt)]

    @retrying
    def requeue_nodes(self, run_id: str, nodes: Sequence[str], instance: str = "") -> list[str]:
        """Mark nodes QUEUED again before re-publishing them (lost-message recovery)."""
        with self.engine.begin() as conn:
            return self._move_nodes(conn, run_id, nodes, Status.QUEUED, instance=instance,
                                    only_from=(Status.QUEUED, Status.PENDING))

    # ----------------------------------------------------------------- events
    @retrying
    def add_event(self, run_id: str, name: str, data: Any = None, node: str | None = None) -> int:
        """Record a named event on a run; returns its id."""
        with self.engine.begin() as conn:
            exists = conn.execute(select(_RUN.c.id).where(_RUN.c.id == run_id)).scalar()
            if exists is None:
                raise NotFoundError(f"unknown run {run_id!r}")
            res = conn.execute(insert(_EVENT).values(run_id=run_id, node=node, name=name, data=data,
                                                     created_at=utcnow()))
            return int(res.inserted_primary_key[0])

    @retrying
    def events(self, run_id: str, name: str | None = None) -> list[dict[str, Any]]:
        """Events recorded on a run, oldest first."""
        cond = [_EVENT.c.run_id == run_id]
        if name:
            cond.append(_EVENT.c.name == name)
        with self.engine.connect() as conn:
            rows = conn.execute(select(_EVENT).where(*cond).order_by(_EVENT.c.id)).mappings().all()
        return [{**dict(r), "created_at": iso_utc(r["created_at"])} for r in rows]


def run_record(row: Any) -> dict[str, Any]:
    """A runs-table row as the JSON-ready dict every face shows."""
    return _run_dict(row)


def _run_dict(row: Any) -> dict[str, Any]:
    data = dict(row)
    for key in ("created_at", "started_at", "finished_at", "updated_at"):
        data[key] = iso_utc(data[key])
    data["status"] = Status(data["status"]).value
    data["terminal"] = Status(data["status"]) in TERMINAL
    return data


def _node_dict(row: Any) -> dict[str, Any]:
    data = dict(row)
    started, finished = data.get("started_at"), data.get("finished_at")
    data["duration"] = (finished - started).total_seconds() if started and finished else None
    for key in ("created_at", "started_at", "finished_at", "updated_at", "lease_expires_at"):
        data[key] = iso_utc(data[key])
    return data

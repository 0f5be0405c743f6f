"""The run store's facade: `RunStore` creates runs and records each node's lifecycle; every status change is a
guarded, atomic SQL update (`pypeline.store.transitions`). Reads live in `pypeline.store.reads`, run control
in `pypeline.store.control`, the per-node hot path in `pypeline.store.hotpath`.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from pypeline.errors import InvalidTransitionError, NotFoundError
from pypeline.settings import Settings
from pypeline.status import Status
from pypeline.store import hotpath
from pypeline.store.apply import apply_finish, node_rows, not_finished
from pypeline.store.control import RunControl
from pypeline.store.db import make_claim_engine, make_engine, make_finish_engine, make_read_engine, migrate
from pypeline.store.leases import holder_id
from pypeline.store.models import NodeRun, PipelineRun, RunEvent, utcnow
from pypeline.store.outcomes import ClaimOutcome, CompletionOutcome, FinishPlan, Gate, NodeSpec
from pypeline.store.reads import RunReads
from pypeline.store.retry import DEFAULT_BUDGET_S, RetryPolicy, retry_call, retrying
from pypeline.store.rows import CHUNK, run_record, summarize
from pypeline.store.transitions import finalize, move_nodes

__all__ = ["RunStore", "NodeSpec", "CompletionOutcome", "ClaimOutcome", "FinishPlan", "Gate", "summarize", "run_record"]

log = logging.getLogger(__name__)

_RUN = PipelineRun.__table__
_NODE = NodeRun.__table__
_EVENT = RunEvent.__table__
#: A run with at least this many node rows refreshes the node table's planner statistics (PostgreSQL).
_ANALYZE_AT = 1000
_LIVE = (Status.RUNNING.value, Status.PAUSED.value)


class RunStore(RunReads, RunControl):
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
        #: Autocommit (durable) engine for one-statement completions (PostgreSQL); None: SQLite.
        self.finish_engine = make_finish_engine(url)
        #: Engine for single-statement reads, no transaction around them (see make_read_engine).
        self.read_engine = make_read_engine(url)
        if auto_migrate:
            migrate(url)

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

        def insert_once() -> int:
            try:
                return self._insert_run(run_id, pipeline_id, nodes, leaves, payload, engine, origin, now)
            except IntegrityError:
                if self._inserted_at(run_id) == now:
                    return len(nodes)  # a retry of our own insert whose commit landed but whose reply was lost
                raise

        count = retry_call(insert_once, self.retry_policy, "create_run")
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
            rows = node_rows(run_id, nodes, lambda n: Status.QUEUED if n.upstreams == 0 else Status.PENDING, now)
            for i in range(0, len(rows), CHUNK):
                conn.execute(insert(_NODE), rows[i : i + CHUNK])
        return len(rows)

    # ----------------------------------------------------------------- node lifecycle
    @retrying
    def claim_node(self, run_id: str, node: str, task_id: str, instance: str = "") -> ClaimOutcome:
        """Mark a node RUNNING under a fresh lease; refused when it is finished, cancelled, not queued, or RUNNING
        under another delivery's live lease (that one is alive: the reconciler re-queues it if its lease expires)."""
        now = utcnow()
        key = {"run_id": run_id, "node": node, "instance": instance}
        # One statement, so no transaction is needed; on PostgreSQL it skips the commit fsync wait: a claim lost
        # in a database crash is harmless (the node is QUEUED again and its unacked message redelivers), and
        # the node's durable finish flushes it anyway.
        claim = self.claim_engine.connect() if self.claim_engine is not None else self.engine.begin()
        with claim as conn:
            attempts = hotpath.claim(conn, {
                **key, "task_id": task_id, "now": now, "until": now + timedelta(seconds=self.lease_seconds),
                "holder": holder_id()})
            if attempts is not None:
                return ClaimOutcome(True, Status.RUNNING, attempts)
            current = conn.execute(hotpath.status_statement(), key).first()
        if current is None:
            raise NotFoundError(f"run {run_id!r} has no node {node!r}")
        return ClaimOutcome(False, Status(current[0]), current[1])

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
        summary = summary if summary is not None else summarize(result)
        if status in hotpath.FINISHABLE and plan.release_only:
            fast = self._finish_fast(run_id, node, instance, status, result, error, summary, plan)
            if fast is not None:
                return fast
        values: dict[str, Any] = {"result": result, "error": error, "result_summary": summary}
        if status is Status.FAILED:
            values.update(traceback=tb, result_summary=None)
        with self.engine.begin() as conn:
            outcome = apply_finish(conn, run_id, node, instance, status, values, plan, error)
            if outcome is None:
                outcome = not_finished(conn, run_id, node, instance, status, plan, task_id)
                if outcome.already and outcome.run_status is None:
                    outcome.run_status = _settle(conn, run_id)  # a crash may have come before the finalisation
            return outcome

    def _finish_fast(
        self, run_id: str, node: str, instance: str, status: Status, result: Any, error: str | None, summary: str,
        plan: FinishPlan,
    ) -> CompletionOutcome | None:
        """The release-only completion in one statement (see pypeline.store.hotpath); None: it moved nothing."""
        now = utcnow()
        if self.finish_engine is not None:
            with self.finish_engine.connect() as conn:
                fast = hotpath.finish_postgres(conn, run_id, node, instance, status, result, error, summary,
                                               plan.release, now)
            if not fast.moved:
                return None
            run_status = self.settle_run(run_id) if fast.ends_run else None
        else:
            with self.engine.begin() as conn:
                fast = hotpath.finish_sqlite(conn, run_id, node, instance, status, result, error, summary,
                                             plan.release, now)
                if not fast.moved:
                    return None
                run_status = finalize(conn, run_id) if fast.ends_run else None
        return CompletionOutcome(applied=True, ready=[n for n, i in fast.ready if i == instance],
                                 run_status=run_status, dispatch=fast.ready)

    @retrying
    def settle_run(self, run_id: str) -> Status | None:
        """Finalise a live run none of whose nodes is left (idempotent); returns its new status, or None."""
        with self.engine.begin() as conn:
            return _settle(conn, run_id)

    @retrying
    def retry_node(self, run_id: str, node: str, error: str, tb: str, *, instance: str = "",
                   task_id: str | None = None, expected_retries: int | None = None) -> bool:
        """Record a failed attempt that will be retried; False if the node was not running.

        With `task_id`, a node already RETRYING under that task (this call's earlier attempt committed but
        its reply was lost) also answers True, so the retry is still scheduled. With `expected_retries`
        (compare-and-set), the node moves only while its recorded retry count is that one: one outcome of
        generation N grants at most one retry, however many deliveries report it.
        """
        guard = [] if expected_retries is None else [_NODE.c.retries == expected_retries]
        with self.engine.begin() as conn:
            moved = move_nodes(conn, run_id, [node], Status.RETRYING, instance=instance, extra=guard,
                               values={"error": error, "traceback": tb, "retries": _NODE.c.retries + 1})
            if moved or task_id is None:
                return bool(moved)
            row = conn.execute(select(_NODE.c.status, _NODE.c.task_id, _NODE.c.retries).where(
                _NODE.c.run_id == run_id, _NODE.c.node == node, _NODE.c.instance == instance)).first()
        return row is not None and row.status == Status.RETRYING.value and row.task_id == task_id and (
            expected_retries is None or row.retries == expected_retries + 1)

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

    # ----------------------------------------------------------------- events
    @retrying
    def add_event(self, run_id: str, name: str, data: Any = None, node: str | None = None) -> int:
        """Record a named event on a run; returns its id."""
        with self.engine.begin() as conn:
            exists = conn.execute(select(_RUN.c.id).where(_RUN.c.id == run_id)).scalar()
            if exists is None:
                raise NotFoundError(f"unknown run {run_id!r}")
            event_id = conn.execute(insert(_EVENT).values(run_id=run_id, node=node, name=name, data=data,
                                                          created_at=utcnow()).returning(_EVENT.c.id)).scalar_one()
            return int(event_id)


def _settle(conn: Connection, run_id: str) -> Status | None:
    """Finalise the run in `conn`'s transaction if it is live with no node left (its row locked first)."""
    stmt = select(_RUN.c.status, _RUN.c.nodes_left).where(_RUN.c.id == run_id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None or row.status not in _LIVE or row.nodes_left > 0:
        return None
    return finalize(conn, run_id)

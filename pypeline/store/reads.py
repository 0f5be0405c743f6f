"""Read side of the run store: runs, node rows, results and events (no status change here)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from pypeline.errors import NotFoundError
from pypeline.formats import iso_utc
from pypeline.status import Status
from pypeline.store.models import NodeRun, PipelineRun, RunEvent
from pypeline.store.retry import RetryPolicy, retrying
from pypeline.store.rows import Pair, by_instance, chunks, node_record, run_record
from pypeline.store.transitions import queued_in

__all__ = ["RunReads"]

_RUN = PipelineRun.__table__
_NODE = NodeRun.__table__
_EVENT = RunEvent.__table__


class RunReads:
    """Queries of `RunStore` (a mixin: the store provides its engines and `retry_policy`)."""

    engine: Engine
    #: Single-statement reads run here, outside a transaction (see pypeline.store.db.make_read_engine).
    read_engine: Engine
    retry_policy: RetryPolicy

    @retrying
    def get_run(self, run_id: str) -> dict[str, Any]:
        """The run row as a dict (result unwrapped), or NotFoundError."""
        with self.read_engine.connect() as conn:
            row = conn.execute(select(_RUN).where(_RUN.c.id == run_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"unknown run {run_id!r}")
        return run_record(row)

    @retrying
    def run_status(self, run_id: str) -> Status:
        """Just the status of a run (cheap, for waiting loops)."""
        with self.read_engine.connect() as conn:
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
        return [run_record(r) for r in rows], int(total)

    @retrying
    def count_runs_by_status(self) -> dict[str, int]:
        """Number of runs per status (for metrics)."""
        with self.read_engine.connect() as conn:
            rows = conn.execute(select(_RUN.c.status, func.count()).group_by(_RUN.c.status)).all()
        return {status: int(n) for status, n in rows}

    @retrying
    def node_runs(self, run_id: str) -> list[dict[str, Any]]:
        """Every node row of a run, in creation order."""
        with self.read_engine.connect() as conn:
            rows = conn.execute(select(_NODE).where(_NODE.c.run_id == run_id).order_by(_NODE.c.id)).mappings().all()
        return [node_record(r) for r in rows]

    @retrying
    def node_statuses(self, run_id: str) -> dict[str, str]:
        """node[/instance] -> status, for progress displays."""
        with self.read_engine.connect() as conn:
            rows = conn.execute(select(_NODE.c.node, _NODE.c.instance, _NODE.c.status).where(_NODE.c.run_id == run_id))
            return {(f"{n}[{i}]" if i else n): s for n, i, s in rows}

    @retrying
    def upstream_results(self, run_id: str, nodes: Sequence[str], instance: str = "") -> dict[str, Any]:
        """Results of the given (finished) nodes of a run, keyed by node name."""
        out: dict[str, Any] = {}
        with self.read_engine.connect() as conn:
            for batch in chunks(list(nodes)):
                rows = conn.execute(select(_NODE.c.node, _NODE.c.result).where(
                    _NODE.c.run_id == run_id, _NODE.c.instance == instance, _NODE.c.node.in_(batch),
                    _NODE.c.status == Status.SUCCESS.value))
                out.update({n: r for n, r in rows})
        return out

    @retrying
    def node_states(self, run_id: str) -> list[tuple[str, str, str, str | None]]:
        """(node, instance, status, error) of every row of a run, in creation order (no results: cheap)."""
        with self.read_engine.connect() as conn:
            rows = conn.execute(select(_NODE.c.node, _NODE.c.instance, _NODE.c.status, _NODE.c.error)
                                .where(_NODE.c.run_id == run_id).order_by(_NODE.c.id)).all()
        return [(n, i, s, e) for n, i, s, e in rows]

    @retrying
    def row_results(self, run_id: str, pairs: Sequence[Pair]) -> dict[Pair, tuple[str, Any]]:
        """(status, result) of the given rows, keyed by (node, instance); missing rows are left out."""
        out: dict[Pair, tuple[str, Any]] = {}
        with self.read_engine.connect() as conn:
            for inst, nodes in by_instance(pairs).items():
                for batch in chunks(nodes):
                    rows = conn.execute(select(_NODE.c.node, _NODE.c.status, _NODE.c.result).where(
                        _NODE.c.run_id == run_id, _NODE.c.instance == inst, _NODE.c.node.in_(batch)))
                    out.update({(n, inst): (st, r) for n, st, r in rows})
        return out

    @retrying
    def split_element(self, run_id: str, node: str, instance: str, index: int) -> Any:
        """Element `index` of a split node's list result, extracted by the database (not the whole list)."""
        with self.read_engine.connect() as conn:
            return conn.execute(select(_NODE.c.result[index]).where(
                _NODE.c.run_id == run_id, _NODE.c.node == node, _NODE.c.instance == instance)).scalar()

    @retrying
    def instance_results(self, run_id: str, nodes: Sequence[str], parent: str) -> list[tuple[str, str, str, Any]]:
        """(node, instance, status, result) of the split instances of `nodes` directly under instance `parent`."""
        pattern = parent + ".%" if parent else "%"
        with self.read_engine.connect() as conn:
            rows = conn.execute(select(_NODE.c.node, _NODE.c.instance, _NODE.c.status, _NODE.c.result).where(
                _NODE.c.run_id == run_id, _NODE.c.node.in_(list(nodes)), _NODE.c.instance != "",
                _NODE.c.instance.like(pattern)).order_by(_NODE.c.id)).all()
        depth = parent.count(".") + 2 if parent else 1
        return [(n, i, st, r) for n, i, st, r in rows if i.count(".") + 1 == depth]

    @retrying
    def node_owner(self, run_id: str, node: str, instance: str = "") -> tuple[Status, str | None]:
        """A node row's status and the Celery task id that last claimed it."""
        with self.read_engine.connect() as conn:
            row = conn.execute(select(_NODE.c.status, _NODE.c.task_id).where(
                _NODE.c.run_id == run_id, _NODE.c.node == node, _NODE.c.instance == instance)).first()
        if row is None:
            raise NotFoundError(f"run {run_id!r} has no node {node!r}")
        return Status(row.status), row.task_id

    @retrying
    def queued_among(self, run_id: str, nodes: Sequence[str], instance: str = "") -> list[str]:
        """Which of `nodes` are QUEUED (published, or about to be, but not started)."""
        with self.read_engine.connect() as conn:
            return queued_in(conn, run_id, nodes, instance)

    @retrying
    def events(self, run_id: str, name: str | None = None) -> list[dict[str, Any]]:
        """Events recorded on a run, oldest first."""
        cond = [_EVENT.c.run_id == run_id]
        if name:
            cond.append(_EVENT.c.name == name)
        with self.read_engine.connect() as conn:
            rows = conn.execute(select(_EVENT).where(*cond).order_by(_EVENT.c.id)).mappings().all()
        return [{**dict(r), "created_at": iso_utc(r["created_at"])} for r in rows]

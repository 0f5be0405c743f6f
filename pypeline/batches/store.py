"""SQL over batch runs and chunks: guarded status changes and a compare-and-set cursor.

A chunk's state is never copied: it is the status of its pipeline run (a join on `pypeline_runs`), or
"unstarted" while that run does not exist yet. Chunks are created only by the driver holding the
batch run's `driver_token`, with the cursor and chunk count checked and moved in the same transaction.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, select, update

from pypeline.errors import NotFoundError
from pypeline.formats import iso_utc
from pypeline.status import TERMINAL, Status, allowed_sources, check_transition
from pypeline.store.db import make_engine, migrate
from pypeline.store.models import BatchChunk, BatchRun, PipelineRun, utcnow

if TYPE_CHECKING:
    from pypeline.runtime import Runtime

__all__ = ["BatchStore", "ChunkCounts", "Chunk", "batch_store"]

_B = BatchRun.__table__
_C = BatchChunk.__table__
_R = PipelineRun.__table__
_TERMINAL = [s.value for s in TERMINAL]


@dataclass
class ChunkCounts:
    """How many chunks of a batch run are in each state."""

    created: int = 0
    unstarted: int = 0  # recorded, but its pipeline run does not exist (yet)
    running: int = 0  # pipeline run exists and is not finished
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def unfinished(self) -> int:
        """Chunks that count against the concurrency cap."""
        return self.unstarted + self.running

    def as_dict(self) -> dict[str, int]:
        """JSON-ready counts."""
        return {"created": self.created, "unstarted": self.unstarted, "running": self.running,
                "succeeded": self.succeeded, "failed": self.failed, "cancelled": self.cancelled}


@dataclass(frozen=True)
class Chunk:
    """A recorded chunk: its number, the id of its pipeline run and its keys."""

    number: int
    run_id: str
    keys: list[str]



def _record(row: Any) -> dict[str, Any]:
    data = dict(row)
    for key in ("created_at", "started_at", "finished_at", "updated_at"):
        data[key] = iso_utc(data[key])
    data["listing_done"] = bool(data["listing_done"])
    data["terminal"] = Status(data["status"]) in TERMINAL
    return data


def _counts(rows: Iterable[tuple[str | None, int]]) -> ChunkCounts:
    counts = ChunkCounts()
    for status, n in rows:
        n = int(n)
        counts.created += n
        counts.by_status[status or "UNSTARTED"] = n
        if status is None:
            counts.unstarted += n
        elif status == Status.SUCCESS.value:
            counts.succeeded += n
        elif status == Status.CANCELLED.value:
            counts.cancelled += n
        elif status in _TERMINAL:
            counts.failed += n
        else:
            counts.running += n
    return counts


class BatchStore:
    """Reads and writes batch runs and chunks in the run store's database."""

    def __init__(self, url: str, *, auto_migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if auto_migrate:
            migrate(url)

    # ------------------------------------------------------------------ batch runs
    def create(self, run_id: str, values: dict[str, Any]) -> None:
        """Insert a RUNNING batch run."""
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(insert(_B).values(
                id=run_id, status=Status.RUNNING.value, cursor=None, keys_listed=0, chunks_created=0,
                listing_done=False, error=None, created_at=now, started_at=now, updated_at=now, **values))

    def find(self, run_id: str) -> dict[str, Any] | None:
        """The batch run record, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_B).where(_B.c.id == run_id)).mappings().first()
        return None if row is None else _record(row)

    def get(self, run_id: str) -> dict[str, Any]:
        """The batch run record, or NotFoundError."""
        record = self.find(run_id)
        if record is None:
            raise NotFoundError(f"unknown batch run {run_id!r}")
        return record

    def list_runs(self, *, batch_id: str | None = None, status: str | None = None, limit: int = 50,
             offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Batch runs, newest first; returns (page, total)."""
        cond = []
        if batch_id is not None:
            cond.append(_B.c.batch_id == batch_id)
        if status is not None:
            cond.append(_B.c.status == status)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(_B).where(*cond)).scalar_one()
            rows = conn.execute(select(_B).where(*cond).order_by(_B.c.created_at.desc(), _B.c.id)
                                .limit(limit).offset(offset)).mappings().all()
        return [_record(r) for r in rows], int(total)

    def _status_for_update(self, conn: Connection, run_id: str) -> Status:
        stmt = select(_B.c.status).where(_B.c.id == run_id)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()  # SQLite: BEGIN IMMEDIATE already holds the write lock
        value = conn.execute(stmt).scalar()
        if value is None:
            raise NotFoundError(f"unknown batch run {run_id!r}")
        return Status(value)

    def transition(self, run_id: str, target: Status, **values: Any) -> Status:
        """Move a batch run to `target` if the state machine allows it, else InvalidTransitionError."""
        with self.engine.begin() as conn:
            current = self._status_for_update(conn, run_id)
            check_transition(current, target, node=False)
            extra = {"finished_at": utcnow()} if target.is_terminal else {"finished_at": None}
            conn.execute(update(_B).where(_B.c.id == run_id)
                         .values(status=target.value, updated_at=utcnow(), **{**extra, **values}))
        return current

    def set_driver(self, run_id: str, token: str) -> bool:
        """Hand the batch run to driver `token` (the previous one stops at its next step); False if not RUNNING."""
        with self.engine.begin() as conn:
            res = conn.execute(update(_B).where(_B.c.id == run_id, _B.c.status == Status.RUNNING.value)
                               .values(driver_token=token, updated_at=utcnow()))
        return res.rowcount == 1

    def finish(self, run_id: str, token: str, target: Status, error: str | None = None) -> bool:
        """End a RUNNING batch run driven by `token` as SUCCESS or FAILED; False if it was not (stopped, taken over)."""
        sources = allowed_sources(target, node=False) & {Status.RUNNING}
        with self.engine.begin() as conn:
            res = conn.execute(update(_B).where(
                _B.c.id == run_id, _B.c.driver_token == token, _B.c.status.in_([s.value for s in sources]),
            ).values(status=target.value, error=error, finished_at=utcnow(), updated_at=utcnow()))
        return res.rowcount == 1

    # ------------------------------------------------------------------ chunks
    def add_chunk(self, run_id: str, token: str, number: int, chunk_run_id: str, keys: list[str],
                  *, last: bool) -> bool:
        """Record chunk `number` and move the cursor to its last key, atomically.

        Applied only if this driver still owns the RUNNING batch run and `number` chunks exist so far
        (compare-and-set): two drivers can never record overlapping chunks. `last` marks the listing done.
        """
        now = utcnow()
        with self.engine.begin() as conn:
            res = conn.execute(update(_B).where(
                _B.c.id == run_id, _B.c.driver_token == token, _B.c.status == Status.RUNNING.value,
                _B.c.chunks_created == number, _B.c.listing_done.is_(False),
            ).values(cursor=keys[-1], chunks_created=number + 1, keys_listed=_B.c.keys_listed + len(keys),
                     listing_done=last, updated_at=now))
            if res.rowcount != 1:
                return False
            conn.execute(insert(_C).values(batch_run_id=run_id, number=number, run_id=chunk_run_id, keys=keys,
                                           key_count=len(keys), created_at=now))
        return True

    def mark_listing_done(self, run_id: str, token: str, chunks: int) -> bool:
        """The generator has no key after the cursor: no chunk will follow the `chunks` recorded ones."""
        with self.engine.begin() as conn:
            res = conn.execute(update(_B).where(
                _B.c.id == run_id, _B.c.driver_token == token, _B.c.status == Status.RUNNING.value,
                _B.c.chunks_created == chunks,
            ).values(listing_done=True, updated_at=utcnow()))
        return res.rowcount == 1

    def counts(self, run_id: str) -> ChunkCounts:
        """Chunk counts of one batch run (chunk state = its pipeline run's status)."""
        return self.counts_for([run_id]).get(run_id, ChunkCounts())

    def counts_for(self, run_ids: list[str]) -> dict[str, ChunkCounts]:
        """Chunk counts of several batch runs in one query."""
        if not run_ids:
            return {}
        grouped: dict[str, list[tuple[str | None, int]]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_C.c.batch_run_id, _R.c.status, func.count())
                .select_from(_C.outerjoin(_R, _R.c.id == _C.c.run_id))
                .where(_C.c.batch_run_id.in_(run_ids)).group_by(_C.c.batch_run_id, _R.c.status))
            for batch_run_id, status, n in rows:
                grouped.setdefault(batch_run_id, []).append((status, n))
        return {rid: _counts(rows) for rid, rows in grouped.items()}

    def unstarted(self, run_id: str) -> list[Chunk]:
        """Recorded chunks whose pipeline run does not exist (a driver stopped between commit and start)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_C.c.number, _C.c.run_id, _C.c["keys"]).select_from(_C.outerjoin(_R, _R.c.id == _C.c.run_id))
                .where(_C.c.batch_run_id == run_id, _R.c.id.is_(None)).order_by(_C.c.number)).all()
        return [Chunk(n, r, list(k)) for n, r, k in rows]

    def chunk_runs(self, run_id: str, statuses: Iterable[Status]) -> list[str]:
        """Run ids of the chunks whose pipeline run has one of `statuses`, in chunk order."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_C.c.run_id).select_from(_C.join(_R, _R.c.id == _C.c.run_id)).where(
                _C.c.batch_run_id == run_id, _R.c.status.in_([s.value for s in statuses])).order_by(_C.c.number))
            return [r[0] for r in rows]

    def chunks(self, run_id: str, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Chunks of a batch run in order, each with its run's status ("UNSTARTED" if the run does not exist)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_C.c.number, _C.c.run_id, _C.c.key_count, _C.c["keys"], _C.c.created_at, _R.c.status,
                       _R.c.error, _R.c.finished_at)
                .select_from(_C.outerjoin(_R, _R.c.id == _C.c.run_id))
                .where(_C.c.batch_run_id == run_id).order_by(_C.c.number).limit(limit).offset(offset)).mappings()
            return [{"chunk": r["number"], "run_id": r["run_id"], "key_count": r["key_count"],
                     "first_key": r["keys"][0] if r["keys"] else None,
                     "last_key": r["keys"][-1] if r["keys"] else None,
                     "status": r["status"] or "UNSTARTED", "error": r["error"],
                     "created_at": iso_utc(r["created_at"]), "finished_at": iso_utc(r["finished_at"])} for r in rows]


def batch_store(rt: Runtime) -> BatchStore:
    """The batch store of the runtime's database (migrated on first use in this process)."""
    return BatchStore(rt.settings.resolved_database_url)

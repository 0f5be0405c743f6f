"""All SQL of the scheduler: schedule rows, the change counter, per-fire claims and the fire log.

Every write to `pypeline_schedules` bumps the one-row change counter in the same transaction and
stamps the rows it wrote with the new value (`version`). Rows are written first and the counter
last, so the counter's row lock is held only briefly and never while waiting for a schedule row
(no deadlock); since the lock is held until commit, versions commit in counter order, which is
what lets a beat read "counter, then rows with version > the last one seen" without missing any.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from pypeline.errors import NotFoundError, PypelineError, StoreError
from pypeline.scheduler.rows import FireRow, OfflineFire, RowWrite, ScheduleRow, fire_of, row_of
from pypeline.store.db import make_engine, migrate
from pypeline.store.models import CHANGES_ROW_ID, FireStatus, Schedule, ScheduleChanges, ScheduleFire, utcnow

__all__ = ["ScheduleStore", "ScheduleRow", "FireRow", "OfflineFire", "RowWrite", "ConflictError"]

_S = Schedule.__table__
_C = ScheduleChanges.__table__
#: The change-counter read every beat makes every second (built once; its compiled form is cached).
_COUNTER = select(_C.c.counter).where(_C.c.id == CHANGES_ROW_ID)
_F = ScheduleFire.__table__
#: The orphan scan every beat makes while idle (built once: no statement construction per scan).
_ORPHANS = (select(_F).where(_F.c.status == FireStatus.PENDING, _F.c.claimed_at < bindparam("before"))
            .order_by(_F.c.claimed_at).limit(bindparam("limit")))
_CHUNK = 500


class ConflictError(PypelineError):
    """A schedule row changed between read and write (optimistic check failed)."""

    code = "conflict"


class ScheduleStore:
    """Reads and writes schedules; safe for several beats and API processes on one database."""

    def __init__(self, url: str, *, auto_migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._poll: Connection | None = None
        #: The change-counter query as plain SQL for the driver-level poll (compiled once).
        self._counter_sql = str(_COUNTER.compile(dialect=self.engine.dialect, compile_kwargs={"literal_binds": True}))
        if auto_migrate:
            migrate(url)

    # ------------------------------------------------------------------ change counter
    def _bump(self, conn: Connection, ids: Sequence[str]) -> int:
        """Bump the change counter and stamp `ids` with it (call last in a write transaction)."""
        version = conn.execute(
            update(_C).where(_C.c.id == CHANGES_ROW_ID).values(counter=_C.c.counter + 1).returning(_C.c.counter)
        ).scalar()
        if version is None:  # the migration inserts the row; recreate it if it was removed by hand
            conn.execute(insert(_C).values(id=CHANGES_ROW_ID, counter=1))
            version = 1
        for i in range(0, len(ids), _CHUNK):
            conn.execute(update(_S).where(_S.c.id.in_(ids[i: i + _CHUNK])).values(version=version))
        return int(version)

    def counter(self) -> int:
        """The change counter: one cheap query tells a beat whether anything changed."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(_C.c.counter).where(_C.c.id == CHANGES_ROW_ID)).scalar() or 0)

    # ------------------------------------------------------------------ reads
    def each_live_row(self, take: Callable[[ScheduleRow], None]) -> int:
        """Pass every live row to `take`, read a batch at a time (a beat's initial load); returns the watermark."""
        with self.engine.connect() as conn:
            watermark = int(conn.execute(_COUNTER).scalar() or 0)
            result = conn.execution_options(stream_results=True, max_row_buffer=_CHUNK).execute(
                select(_S).where(_S.c.deleted.is_(False)))
            for r in result.mappings():
                row = row_of(r)
                watermark = max(watermark, row.version)
                take(row)
        return watermark

    def load_changed(self, since: int) -> tuple[int, list[ScheduleRow]]:
        """(watermark, rows written after version `since`, tombstones included), or (since, []) if none.

        Called every second by a beat, so it keeps one connection for itself (no pool checkout and
        liveness ping each time) and reads the counter straight through the driver (a quarter of the
        CPU of a SQLAlchemy execution: most of an idle beat's cost); not for use from several threads.
        """
        conn = self._poll_connection()
        try:
            driver = conn.connection.dbapi_connection
            assert driver is not None
            cursor = driver.cursor()
            cursor.execute(self._counter_sql)
            found = cursor.fetchone()
            cursor.close()
            counter = int(found[0] or 0) if found else 0
            if counter == since:  # the common case: nothing changed, SQLAlchemy never involved
                if self.engine.dialect.name != "postgresql":
                    driver.rollback()  # no snapshot held between polls (autocommit on PostgreSQL)
                return since, []
            rows = [row_of(r) for r in conn.execute(select(_S).where(_S.c.version > since)).mappings()]
            conn.rollback()  # end the read transaction: no snapshot or lock is held between polls
        except Exception as exc:
            self._poll_failed(conn, exc)
            raise
        return max([counter, since, *(r.version for r in rows)]), rows

    def _poll_connection(self) -> Connection:
        """The beat's own connection for its periodic reads (autocommit on PostgreSQL), opened on first use."""
        if self._poll is None or self._poll.closed or self._poll.invalidated:
            self._poll = self.engine.connect()
            if self.engine.dialect.name == "postgresql":
                # Each poll is one statement: autocommit saves the BEGIN and ROLLBACK round trips.
                self._poll = self._poll.execution_options(isolation_level="AUTOCOMMIT")
        return self._poll

    def _poll_failed(self, conn: Connection, exc: Exception) -> None:
        """Drop the polling connection after an error; a driver error is raised as StoreError."""
        self._poll = None
        conn.invalidate()
        conn.close()
        if isinstance(exc, self.engine.dialect.loaded_dbapi.Error):  # from a driver-level read
            raise StoreError(f"schedule store poll failed: {exc}") from exc

    def close(self) -> None:
        """Release the polling connection."""
        if self._poll is not None:
            self._poll.close()
            self._poll = None

    def get(self, schedule_id: str, *, include_deleted: bool = False) -> ScheduleRow | None:
        """One row, or None."""
        with self.engine.connect() as conn:
            r = conn.execute(select(_S).where(_S.c.id == schedule_id)).mappings().first()
        if r is None or (r["deleted"] and not include_deleted):
            return None
        return row_of(r)

    def list_rows(self, *, include_deleted: bool = False) -> list[ScheduleRow]:
        """Every (live) row, ordered by id."""
        stmt = select(_S).order_by(_S.c.id)
        if not include_deleted:
            stmt = stmt.where(_S.c.deleted.is_(False))
        with self.engine.connect() as conn:
            return [row_of(r) for r in conn.execute(stmt).mappings()]

    def get_many(self, ids: Iterable[str]) -> list[ScheduleRow]:
        """Rows by id (tombstones included); missing ids are left out."""
        wanted = list(ids)
        out: list[ScheduleRow] = []
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), _CHUNK):
                out.extend(row_of(r) for r in conn.execute(select(_S).where(_S.c.id.in_(wanted[i: i + _CHUNK])))
                           .mappings())
        return out

    def sync_rows(self, ids: Iterable[str]) -> list[ScheduleRow]:
        """Rows config sync must look at: every row from config, and rows using one of `ids` (tombstones too)."""
        wanted = list(ids)
        with self.engine.connect() as conn:
            found = {r["id"]: row_of(r) for r in conn.execute(select(_S).where(_S.c.source == "config")).mappings()}
            for i in range(0, len(wanted), _CHUNK):
                for r in conn.execute(select(_S).where(_S.c.id.in_(wanted[i: i + _CHUNK]))).mappings():
                    found[r["id"]] = row_of(r)
        return list(found.values())

    def id_for_name(self, name: str) -> str | None:
        """Id of the live schedule with this name, if any."""
        with self.engine.connect() as conn:
            return conn.execute(select(_S.c.id).where(_S.c.name == name, _S.c.deleted.is_(False)).limit(1)).scalar()

    # ------------------------------------------------------------------ writes
    def write(self, writes: Sequence[RowWrite]) -> int:
        """Insert or update rows in one transaction with one counter bump; returns the new version.

        `create=True` without `expect_version` inserts a new row (ConflictError if the id exists). Any
        other write updates the row, which must exist and, when `expect_version` is set, still carry
        that version (else ConflictError) - this is also how a tombstone is revived.
        """
        if not writes:
            return self.counter()
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                inserts = [{"total_fires": 0, **w.values, "id": w.id, "created_at": now, "updated_at": now,
                            "version": 0} for w in writes if w.create and w.expect_version is None]
                for i in range(0, len(inserts), _CHUNK):
                    conn.execute(insert(_S), inserts[i: i + _CHUNK])
                for w in sorted(writes, key=lambda w: w.id):  # one lock order for every writer
                    values = {**w.values, "updated_at": now}
                    if w.create and w.expect_version is None:
                        continue  # inserted above
                    cond = [_S.c.id == w.id]
                    if w.expect_version is not None:
                        cond.append(_S.c.version == w.expect_version)
                    if conn.execute(update(_S).where(and_(*cond)).values(**values)).rowcount == 1:
                        continue
                    if w.expect_version is not None:
                        raise ConflictError(f"schedule {w.id!r} was changed concurrently; try again")
                    raise NotFoundError(f"unknown schedule {w.id!r}")
                return self._bump(conn, [w.id for w in writes])
        except IntegrityError as exc:
            raise ConflictError(f"a schedule with this id already exists ({exc.orig})") from None

    # ------------------------------------------------------------------ firing
    def claim(
        self,
        schedule_id: str,
        due: datetime,
        next_fire_at: datetime | None,
        *,
        beat: str,
        message_id: str,
        fire: bool = True,
        error: str | None = None,
    ) -> int | None:
        """Compare-and-set the due time: advance `due` -> `next_fire_at` and log the fire, atomically.

        Returns the id of the new pending fire (0 when nothing is to be sent: `fire=False`, or this due
        time was already logged), or None when another beat won (or the row changed meanwhile).
        """
        now = utcnow()
        with self.engine.begin() as conn:
            res = conn.execute(update(_S).where(
                _S.c.id == schedule_id, _S.c.next_fire_at == due, _S.c.deleted.is_(False), _S.c.enabled.is_(True),
            ).values(next_fire_at=next_fire_at, last_error=error, updated_at=now,
                     **({"last_fired_at": due, "total_fires": _S.c.total_fires + 1} if fire else {})))
            if res.rowcount != 1:
                return None
            fire_id = 0
            if fire:
                seen = conn.execute(select(_F.c.id).where(_F.c.schedule_id == schedule_id, _F.c.due_at == due)).first()
                if seen is None:
                    fire_id = int(conn.execute(insert(_F).values(
                        schedule_id=schedule_id, due_at=due, claimed_at=now, status=FireStatus.PENDING, attempts=1,
                        beat=beat, message_id=message_id,
                    ).returning(_F.c.id)).scalar_one())
            self._bump(conn, [schedule_id])
        return fire_id

    def mark_sent(self, fire_id: int) -> None:
        """The fire reached the broker (or its run started)."""
        with self.engine.begin() as conn:
            conn.execute(update(_F).where(_F.c.id == fire_id).values(status=FireStatus.SENT, sent_at=utcnow(),
                                                                     error=None))

    def mark_unsent(self, fire_id: int, schedule_id: str, error: str, *, final: bool) -> None:
        """Sending failed: keep it pending for a retry, or give up (`final`); the schedule shows the error."""
        with self.engine.begin() as conn:
            conn.execute(update(_F).where(_F.c.id == fire_id).values(
                error=error, **({"status": FireStatus.FAILED} if final else {})))
            if conn.execute(update(_S).where(_S.c.id == schedule_id).values(last_error=error)).rowcount:
                self._bump(conn, [schedule_id])

    def orphans(self, claimed_before: datetime, limit: int = 100) -> list[FireRow]:
        """Pending fires claimed before `claimed_before`: their beat died (or failed) before sending.

        A beat's periodic read, so it uses the polling connection (no pool checkout, idle ping or BEGIN).
        """
        conn = self._poll_connection()
        try:
            rows = conn.execute(_ORPHANS, {"before": claimed_before, "limit": limit}).mappings().all()
            conn.rollback()  # end the read transaction (nothing to end on PostgreSQL: autocommit)
        except Exception as exc:
            self._poll_failed(conn, exc)
            raise
        return [fire_of(r) for r in rows]

    def reclaim(self, fire: FireRow, *, beat: str) -> bool:
        """Take over an orphaned fire (compare-and-set on its claim time); True for the one winner."""
        with self.engine.begin() as conn:
            res = conn.execute(update(_F).where(
                _F.c.id == fire.id, _F.c.status == FireStatus.PENDING, _F.c.claimed_at == fire.claimed_at,
            ).values(claimed_at=utcnow(), attempts=_F.c.attempts + 1, beat=beat))
            return res.rowcount == 1

    def fires(self, schedule_id: str | None = None, *, limit: int = 50) -> list[FireRow]:
        """Logged fires, newest due time first."""
        stmt = select(_F).order_by(_F.c.due_at.desc(), _F.c.id.desc()).limit(limit)
        if schedule_id is not None:
            stmt = stmt.where(_F.c.schedule_id == schedule_id)
        with self.engine.connect() as conn:
            return [fire_of(r) for r in conn.execute(stmt).mappings()]

    def prune_fires(self, before: datetime) -> int:
        """Forget sent/failed fires due before `before`; returns how many."""
        with self.engine.begin() as conn:
            res = conn.execute(delete(_F).where(_F.c.due_at < before, _F.c.status != FireStatus.PENDING))
            return int(res.rowcount or 0)

    def write_back(self, fires: Iterable[OfflineFire], advances: Mapping[str, datetime | None]) -> int:
        """Record fires sent from memory during an outage and move schedules on; returns fires recorded.

        `advances` maps a schedule id to the next fire time it reached in memory (None: a finished
        one-off); the row only ever moves forward, so beats writing back in any order agree.
        """
        by_schedule: dict[str, list[OfflineFire]] = {sid: [] for sid in advances}
        for f in fires:
            by_schedule.setdefault(f.schedule_id, []).append(f)
        recorded = 0
        for schedule_id in sorted(by_schedule):
            with self.engine.begin() as conn:
                fresh = 0
                for f in sorted(by_schedule[schedule_id], key=lambda f: f.due_at):
                    seen = conn.execute(select(_F.c.id).where(_F.c.schedule_id == schedule_id,
                                                              _F.c.due_at == f.due_at)).first()
                    if seen is not None:
                        continue
                    conn.execute(insert(_F).values(
                        schedule_id=schedule_id, due_at=f.due_at, claimed_at=f.sent_at, sent_at=f.sent_at,
                        status=FireStatus.SENT, attempts=1, beat=f.beat, message_id=f.message_id,
                        error="sent from memory while the store was unreachable"))
                    fresh += 1
                    values: dict[str, Any] = {
                        "last_fired_at": case((_S.c.last_fired_at.is_(None), f.due_at),
                                              (_S.c.last_fired_at < f.due_at, f.due_at), else_=_S.c.last_fired_at),
                    }
                    conn.execute(update(_S).where(_S.c.id == schedule_id).values(**values))
                values = {"total_fires": _S.c.total_fires + fresh}
                if schedule_id in advances:
                    target = advances[schedule_id]
                    values["next_fire_at"] = None if target is None else case(
                        (_S.c.next_fire_at < target, target), else_=_S.c.next_fire_at)
                res = conn.execute(update(_S).where(_S.c.id == schedule_id, _S.c.deleted.is_(False)).values(**values))
                if res.rowcount:
                    self._bump(conn, [schedule_id])
                recorded += fresh
        return recorded

    def count_fires(self, schedule_id: str) -> int:
        """How many fires are logged for a schedule (diagnostics and tests)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(_F).where(_F.c.schedule_id == schedule_id))
                       .scalar_one())

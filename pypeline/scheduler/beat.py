"""DatabaseScheduler: a Celery beat scheduler over the schedule table.

How it works, per tick (at least every `PYPELINE_BEAT_MAX_INTERVAL`, 1 s by default):

* **Changes**: one query reads the change counter; only when it moved are the rows written since
  (`version` > last seen) loaded. Nothing else is ever reloaded, so an edit, a disable or a delete
  is applied within about a second however large the table is.
* **Firing, exactly once**: for a due row, a beat compare-and-sets the row's due time to its next
  one and logs the fire in the same transaction. Any number of beats may run: the one whose update
  matched fires, the others see 0 rows and move on. There is no leader and no lease, so a beat
  killed with -9 leaves nothing to expire: the others keep firing without a gap.
* **Send after commit**: the message is published only after the claim committed, then the fire is
  marked sent. A beat dying between the two leaves a *pending* fire; any beat re-sends pending
  fires older than `redispatch_after` seconds (claiming them by compare-and-set first). Message ids
  are derived from (schedule, due time), so a re-sent pipeline fire never starts a second run.
  The one window for a duplicate is a live beat that stalls longer than `redispatch_after` between
  commit and publish: there the choice is at-least-once, never a lost fire.
* **Store outage**: database errors are caught and retried with backoff; after `offline_after`
  seconds beats fire from their in-memory schedule, coordinating through Redis SET NX claims when
  the broker is Redis (each beat fires on its own otherwise). Fires sent from memory are written
  back when the store answers again.
* **Catch-up** (`PYPELINE_BEAT_CATCH_UP`): slots more than `missed_after` seconds old when beat
  gets to them were missed (no beat ran); `once` fires them once, `skip` drops them. Younger slots
  always fire one by one.

Schedules come from the table only (config `scheduledTasks` are synced into it at start, the API
writes to it); Celery's static `beat_schedule` setting is not used.
"""
from __future__ import annotations

import heapq
import logging
import os
import socket
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from celery.beat import Scheduler
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from pypeline.errors import PypelineError, StoreError
from pypeline.scheduler.claims import FireClaims
from pypeline.scheduler.dispatch import Dispatcher, message_id
from pypeline.scheduler.entry import DatabaseEntry
from pypeline.scheduler.heartbeat import Heartbeat
from pypeline.scheduler.housekeeping import Housekeeper
from pypeline.scheduler.plan import FirePlan, plan_fire
from pypeline.scheduler.store import ConflictError, FireRow, OfflineFire, ScheduleRow, ScheduleStore
from pypeline.scheduler.sync import sync_schedules
from pypeline.store.models import utcnow
from pypeline.tasks.app import runtime_of

__all__ = ["DatabaseScheduler", "STORE_ERRORS"]

log = logging.getLogger(__name__)

#: Errors that mean "the store is unreachable or refused": beat backs off and keeps going.
STORE_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, StoreError, OSError)
CATCH_UP_POLICIES = ("once", "skip")


class DatabaseScheduler(Scheduler):
    """Celery beat scheduler reading the schedule table; several may run on one database."""

    Entry = DatabaseEntry

    #: Seconds after which a due slot counts as missed and the catch-up policy applies.
    missed_after: float = 10.0
    #: Seconds after which a claimed but unsent fire is re-sent by any beat.
    redispatch_after: float = 6.0
    #: Seconds between looks for such fires while fires are being claimed (any beat's claim bumps the counter).
    orphan_scan_every: float = 2.0
    #: Seconds between looks for such fires when nothing was claimed lately (a safety net only).
    orphan_scan_idle_every: float = 60.0
    #: Seconds the store must have been failing before beat fires from memory.
    offline_after: float = 5.0
    #: Seconds between removals of old fire log rows, and how long the log is kept.
    prune_every: float = 3600.0
    fire_retention: timedelta = timedelta(days=3)
    #: A pending fire older than this is given up (marked failed).
    give_up_after: timedelta = timedelta(days=1)
    #: Fires handled per tick before beat looks at changes again.
    max_fires_per_tick: int = 200
    #: Backoff between store retries, seconds.
    backoff_min: float = 1.0
    backoff_max: float = 30.0

    def __init__(self, app: Celery, *args: Any, **kwargs: Any) -> None:
        runtime = runtime_of(app)
        if runtime is None:
            raise PypelineError("DatabaseScheduler needs a Celery app built by Pypeline "
                                "(celery -A pypeline.celery beat, or pypeline beat FILE)")
        self.runtime = runtime
        runtime.config  # fail now, with a clear message, when no config is loaded  # noqa: B018
        settings = runtime.settings
        if settings.beat_catch_up not in CATCH_UP_POLICIES:
            raise PypelineError(f"PYPELINE_BEAT_CATCH_UP must be one of {CATCH_UP_POLICIES}, "
                                f"got {settings.beat_catch_up!r}")
        self.catch_up = settings.beat_catch_up
        self.database_url = settings.resolved_database_url
        self.beat_id = f"{socket.gethostname()}:{os.getpid()}"
        self.dispatcher = Dispatcher(runtime)
        self.claims = FireClaims(settings.broker_url, self.beat_id)
        self.housekeeper = Housekeeper(runtime, self.beat_id)
        # A blackholed PostgreSQL host must not hang beat for minutes (libpq reads this variable).
        os.environ.setdefault("PGCONNECT_TIMEOUT", "5")
        self._store: ScheduleStore | None = None
        self._rows: dict[str, ScheduleRow] = {}
        self._due: list[tuple[datetime, str, datetime]] = []  # (look at, schedule id, due time)
        self._watermark = 0
        self._loaded = False
        self._synced = False
        self._reload_ids: set[str] = set()
        self._offline_fires: list[OfflineFire] = []
        self._offline_advances: dict[str, datetime | None] = {}
        self._unmarked: set[int] = set()
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._backoff = self.backoff_min
        self._last_refresh = self._last_orphan_scan = self._last_prune = float("-inf")
        self._last_change = time.monotonic()  # scan for orphans often at start: a previous beat may have died
        self._heartbeat = Heartbeat(settings.resolved_beat_heartbeat_file)
        super().__init__(app, *args, **kwargs)
        self.max_interval = min(float(self.max_interval or settings.beat_max_interval), settings.beat_max_interval)

    # ------------------------------------------------------------------ Celery hooks
    def setup_schedule(self) -> None:
        """Sync config schedules and load the table (if the store is down, keep trying from tick)."""
        self._store_work(time.monotonic())

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One pass: apply changes, fire what is due; returns seconds to sleep (at most max_interval)."""
        self._heartbeat.beat()
        self._store_work(time.monotonic())
        if self._fire_due():
            return 0.0
        now = utcnow()
        sleep = float(self.max_interval)
        if self._due:
            sleep = min(sleep, max((self._due[0][0] - now).total_seconds(), 0.0))
        return sleep

    @property
    def schedule(self) -> dict[str, DatabaseEntry]:  # type: ignore[override]
        """The active schedules as Celery entries (introspection only)."""
        return {row.spec.name: DatabaseEntry.from_row(row, self.app) for row in self._rows.values()}

    @schedule.setter
    def schedule(self, value: Any) -> None:
        """Celery's base class assigns a dict here; the table is the schedule, so it is ignored."""

    def get_schedule(self) -> dict[str, DatabaseEntry]:
        """Same as `schedule`."""
        return self.schedule

    def sync(self) -> None:
        """Flush state kept only in memory (fires sent during an outage) if the store answers."""
        if self._offline_fires or self._offline_advances or self._unmarked:
            self._store_work(time.monotonic(), housekeeping=False)

    def close(self) -> None:
        """Flush, release the broker connection and the store's polling connection."""
        try:
            super().close()
        finally:
            if self._store is not None:
                self._store.close()

    @property
    def info(self) -> str:
        """Startup banner lines."""
        url = make_url(self.database_url).render_as_string(hide_password=True)
        return f"    . database -> {url}\n    . catch-up -> {self.catch_up}"

    # ------------------------------------------------------------------ store side
    @property
    def store(self) -> ScheduleStore:
        """The schedule store (created, and the database migrated, on first use)."""
        if self._store is None:
            self._store = ScheduleStore(self.database_url)
        return self._store

    @property
    def online(self) -> bool:
        """True while the last store operation succeeded."""
        return self._down_since is None and self._loaded

    def _store_work(self, mono: float, *, housekeeping: bool = True) -> None:
        if mono < self._retry_at:
            return
        try:
            if not self._loaded:
                self._load()
                self._last_refresh = mono
            if self._unmarked:
                for fire_id in sorted(self._unmarked):
                    self.store.mark_sent(fire_id)
                    self._unmarked.discard(fire_id)
            if self._offline_fires or self._offline_advances:
                self._write_back()
            if self._reload_ids or mono - self._last_refresh >= self.max_interval * 0.9:
                self._refresh()
                self._last_refresh = mono
            if housekeeping and mono - self._last_orphan_scan >= self._orphan_scan_interval(mono):
                self._last_orphan_scan = mono
                self._recover_orphans()
            if housekeeping and mono - self._last_prune >= self.prune_every:
                self._last_prune = mono
                removed = self.store.prune_fires(utcnow() - self.fire_retention)
                if removed:
                    log.info("beat: pruned %d old fire log rows", removed)
            if housekeeping:
                self.housekeeper.tick(mono, self.store)  # retention (PYPELINE_RUN_RETENTION_DAYS), queued runs
        except (*STORE_ERRORS, ConflictError) as exc:  # a conflict: another beat synced at the same moment
            self._store_failed(exc)
        else:
            if self._down_since is not None:
                log.warning("beat: schedule store reachable again after %.1f s", time.monotonic() - self._down_since)
            self._down_since = None
            self._backoff = self.backoff_min

    def _orphan_scan_interval(self, mono: float) -> float:
        """Scan often only while claims happen: an orphan is a claim that was never marked sent."""
        if mono - self._last_change <= self.redispatch_after + 2 * self.orphan_scan_every:
            return self.orphan_scan_every
        return self.orphan_scan_idle_every

    def _store_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        self._retry_at = now + self._backoff
        log.warning("beat: schedule store unavailable (%s: %s); retrying in %.0f s, keeping the last known schedule",
                    type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "", self._backoff)
        self._backoff = min(self._backoff * 2, self.backoff_max)

    def _load(self) -> None:
        if not self._synced:
            report = sync_schedules(self.store, self.runtime.config.schedules)
            self._synced = True
            log.info("beat: config schedules synced: %s", {k: v for k, v in report.as_dict().items() if v})
        watermark, rows = self.store.load_all()
        self._rows.clear()
        self._due.clear()
        for row in rows:
            self._apply(row)
        self._watermark = watermark
        self._loaded = True
        log.info("beat: %d active schedule(s) loaded (watermark %d)", len(self._rows), watermark)

    def _refresh(self) -> None:
        watermark, rows = self.store.load_changed(self._watermark)
        if watermark != self._watermark:
            self._last_change = time.monotonic()
        if self._reload_ids:
            ids, self._reload_ids = self._reload_ids, set()
            rows = [*rows, *self.store.get_many(ids)]
        for row in rows:
            self._apply(row)
        if rows:
            log.debug("beat: %d changed row(s) applied (watermark %d -> %d)", len(rows), self._watermark, watermark)
        self._watermark = watermark

    def _write_back(self) -> None:
        fires, advances = self._offline_fires, self._offline_advances
        recorded = self.store.write_back(fires, advances)
        self._offline_fires, self._offline_advances = [], {}
        log.warning("beat: wrote back %d fire(s) sent while the store was unreachable", recorded)
        self._reload_ids.update(advances)

    def _recover_orphans(self) -> None:
        now = utcnow()
        for fire in self.store.orphans(now - timedelta(seconds=self.redispatch_after)):
            if fire.id in self._unmarked:
                continue
            self._resend(fire, now)

    def _resend(self, fire: FireRow, now: datetime) -> None:
        row = self._rows.get(fire.schedule_id) or self.store.get(fire.schedule_id)
        if not self.store.reclaim(fire, beat=self.beat_id):
            return  # another beat took it
        if row is None:
            self.store.mark_unsent(fire.id, fire.schedule_id, "schedule deleted before its fire was sent", final=True)
            return
        if now - fire.due_at > self.give_up_after:
            self.store.mark_unsent(fire.id, row.id, f"not sent since {fire.due_at.isoformat()}; given up",
                                   final=True)
            return
        log.warning("beat: re-sending fire of %s due %s (attempt %d; claimed by %s)", row.id,
                    fire.due_at.isoformat(), fire.attempts + 1, fire.beat)
        self._send(row, fire.id, fire.message_id, fire.due_at, resend=True)

    # ------------------------------------------------------------------ in-memory schedule
    def _apply(self, row: ScheduleRow) -> None:
        old = self._rows.get(row.id)
        if not row.active:
            self._rows.pop(row.id, None)
            return
        self._rows[row.id] = row
        if old is None or old.next_fire_at != row.next_fire_at:
            assert row.next_fire_at is not None
            heapq.heappush(self._due, (row.next_fire_at, row.id, row.next_fire_at))
        if len(self._due) > 2 * len(self._rows) + 1024:  # drop stale heap items now and then
            self._due = [(r.next_fire_at, r.id, r.next_fire_at) for r in self._rows.values()
                         if r.next_fire_at is not None]
            heapq.heapify(self._due)

    def _advance(self, row: ScheduleRow, due: datetime, plan: FirePlan, *, fired: bool, error: str | None) -> None:
        self._apply(replace(row, next_fire_at=plan.next_fire_at, last_error=error,
                            last_fired_at=due if fired else row.last_fired_at,
                            total_fires=row.total_fires + (1 if fired else 0)))

    def _fire_due(self) -> bool:
        """Handle due rows; True when the per-tick budget ran out with more due."""
        now = utcnow()
        handled = 0
        while self._due and self._due[0][0] <= now:
            if handled >= self.max_fires_per_tick:
                return True
            _, sid, due = heapq.heappop(self._due)
            row = self._rows.get(sid)
            if row is None or row.next_fire_at != due:
                continue  # stale heap item
            handled += 1
            self._fire(row, due, now)
        return False

    def _fire(self, row: ScheduleRow, due: datetime, now: datetime) -> None:
        plan = plan_fire(row.spec, due, now, catch_up=self.catch_up, grace=self.missed_after)
        problem = self.dispatcher.problem(row.spec)
        fire = plan.fire and problem is None
        msg_id = message_id(row.id, due)
        if self.online:
            try:
                fire_id = self.store.claim(row.id, due, plan.next_fire_at, beat=self.beat_id, message_id=msg_id,
                                           fire=fire, error=problem)
            except STORE_ERRORS as exc:
                self._store_failed(exc)
            else:
                if fire_id is None:  # another beat fired it, or the row changed: fetch it again
                    self._rows.pop(row.id, None)
                    self._reload_ids.add(row.id)
                    return
                self._advance(row, due, plan, fired=fire, error=problem)
                self._log_plan(row, due, plan, problem)
                if fire_id:
                    self._send(row, fire_id, msg_id, due)
                return
        self._fire_offline(row, due, plan, problem, msg_id)

    def _log_plan(self, row: ScheduleRow, due: datetime, plan: FirePlan, problem: str | None) -> None:
        if problem is not None:
            log.error("beat: schedule %s (%s) %s", row.id, row.spec.name, problem)
        elif plan.caught_up:
            log.warning("beat: schedule %s missed slots since %s; catch-up %s%s", row.id, due.isoformat(),
                        self.catch_up, " (fired once)" if plan.fire else " (skipped)")

    def _send(self, row: ScheduleRow, fire_id: int, msg_id: str, due: datetime, *, resend: bool = False) -> None:
        if not resend and self.claims.shared and not self.claims.claim(msg_id):
            log.warning("beat: fire %s of %s was already sent by a beat cut off from the store", msg_id, row.id)
            self._mark_sent(fire_id)
            return
        try:
            self.dispatcher.send(row.id, row.spec, msg_id, resend=resend, producer=self.producer)
        except PypelineError as exc:
            log.error("beat: fire of %s cannot be sent: %s", row.id, exc)
            self._mark_unsent(fire_id, row.id, str(exc), final=True)
        except Exception as exc:  # noqa: BLE001 - broker/store trouble: the fire stays pending and is re-sent
            log.warning("beat: fire of %s not sent yet (%s: %s); will retry", row.id, type(exc).__name__, exc)
            self._last_change = time.monotonic()  # keep looking for it until it is sent
            self._mark_unsent(fire_id, row.id, f"{type(exc).__name__}: {exc}", final=False)
        else:
            log.info("beat: fired %s (%s -> %s %s) due %s", row.id, row.spec.name, row.spec.target_kind,
                     row.spec.target, due.isoformat())
            self._mark_sent(fire_id)

    def _mark_sent(self, fire_id: int) -> None:
        try:
            self.store.mark_sent(fire_id)
        except STORE_ERRORS as exc:
            self._unmarked.add(fire_id)  # marked when the store answers; never re-sent by this beat meanwhile
            self._store_failed(exc)

    def _mark_unsent(self, fire_id: int, schedule_id: str, error: str, *, final: bool) -> None:
        try:
            self.store.mark_unsent(fire_id, schedule_id, error, final=final)
        except STORE_ERRORS as exc:
            self._store_failed(exc)  # still pending in the store: re-sent by the orphan scan later

    def _fire_offline(self, row: ScheduleRow, due: datetime, plan: FirePlan, problem: str | None,
                      msg_id: str) -> None:
        down_for = 0.0 if self._down_since is None else time.monotonic() - self._down_since
        if not self._loaded or down_for < self.offline_after:
            # A short blip: wait for the store rather than risk a fire another beat also claims.
            heapq.heappush(self._due, (utcnow() + timedelta(seconds=self.backoff_min), row.id, due))
            return
        fired = False
        if problem is None and plan.fire and self.claims.claim(msg_id):
            try:
                self.dispatcher.send(row.id, row.spec, msg_id, producer=self.producer)
            except PypelineError as exc:
                log.error("beat: fire of %s cannot be sent: %s", row.id, exc)
            except Exception as exc:  # noqa: BLE001 - e.g. a pipeline needs the run store: retry later
                log.warning("beat: fire of %s not sent from memory (%s: %s); will retry", row.id,
                            type(exc).__name__, exc)
                heapq.heappush(self._due, (utcnow() + timedelta(seconds=self._backoff), row.id, due))
                return
            else:
                fired = True
                self._offline_fires.append(OfflineFire(row.id, due, plan.next_fire_at, msg_id, utcnow(),
                                                       self.beat_id))
                log.warning("beat: fired %s due %s from memory (store unreachable)", row.id, due.isoformat())
        self._offline_advances[row.id] = plan.next_fire_at
        self._advance(row, due, plan, fired=fired, error=problem)

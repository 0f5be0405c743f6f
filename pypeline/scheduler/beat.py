"""DatabaseScheduler: a Celery beat scheduler over the schedule table.

How it works, per tick (at least every `PYPELINE_BEAT_MAX_INTERVAL`, 1 s by default; otherwise beat
sleeps until the next due slot). Every tunable named below is a `PYPELINE_BEAT_*` setting:

* **Changes**: one query reads the change counter; only when it moved are the rows written since
  (`version` > last seen) loaded. Nothing else is ever reloaded, so an edit, a disable or a delete
  is applied within about a second however large the table is.
* **Firing, exactly once**: for a due row, a beat compare-and-sets the row's due time to its next
  one and logs the fire in the same transaction. Any number of beats may run: the one whose update
  matched fires, the others see 0 rows and move on. There is no leader and no lease, so a beat
  killed with -9 leaves nothing to expire: the others keep firing without a gap.
* **Send after commit**: the message is published only after the claim committed, then the fire is
  marked sent; any beat re-sends *pending* fires older than `redispatch_after` (claiming them first),
  checking the Redis "sent" mark of `claims.py` on a Redis broker. Message ids derive from (schedule,
  due time), so a re-sent pipeline fire never starts a second run (docs/scheduler.md: the one window
  left for a duplicate task message).
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

import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from celery.beat import Scheduler
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from pypeline.errors import PypelineError, StoreError
from pypeline.runtime import Runtime
from pypeline.scheduler.claims import FireClaims
from pypeline.scheduler.clock import SYSTEM_CLOCK, Clock
from pypeline.scheduler.dispatch import Dispatcher, message_id
from pypeline.scheduler.due import DueEntry, DueSchedule, release_free_memory
from pypeline.scheduler.entry import DatabaseEntry
from pypeline.scheduler.heartbeat import Heartbeat
from pypeline.scheduler.housekeeping import Housekeeper
from pypeline.scheduler.plan import CatchUp, FirePlan, plan_fire
from pypeline.scheduler.store import ConflictError, FireRow, OfflineFire, ScheduleRow, ScheduleStore
from pypeline.scheduler.sync import sync_schedules
from pypeline.settings import Settings
from pypeline.tasks.app import runtime_of

__all__ = ["DatabaseScheduler", "STORE_ERRORS"]

log = logging.getLogger(__name__)

#: Errors that mean "the store is unreachable or refused": beat backs off and keeps going.
STORE_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, StoreError, OSError)
#: A conflict too: another beat synced at the same moment.
_RETRYABLE: tuple[type[BaseException], ...] = (*STORE_ERRORS, ConflictError)
CATCH_UP_POLICIES = ("once", "skip")


class DatabaseScheduler(Scheduler):  # type: ignore[misc]  # celery ships no type information
    """Celery beat scheduler reading the schedule table; several may run on one database."""

    Entry = DatabaseEntry  # celery's hook; not the in-memory DueEntry
    #: Set by celery's base class from `beat_max_interval`, capped in __init__.
    max_interval: float

    def __init__(self, app: Celery, *args: Any, clock: Clock = SYSTEM_CLOCK, settings: Settings | None = None,
                 **kwargs: Any) -> None:
        """`clock` and `settings` (default: the runtime's) are for tests; Celery passes neither."""
        runtime = runtime_of(app, Runtime)
        if runtime is None:
            raise PypelineError("DatabaseScheduler needs a Celery app built by Pypeline "
                                "(celery -A pypeline.celery beat, or pypeline beat FILE)")
        self.runtime = runtime
        runtime.config  # fail now, with a clear message, when no config is loaded  # noqa: B018
        settings = settings or runtime.settings
        self.clock = clock
        self.missed_after = settings.beat_missed_after
        self.redispatch_after = settings.beat_redispatch_after
        self.orphan_scan_every = settings.beat_orphan_scan_every
        self.orphan_scan_idle_every = settings.beat_orphan_scan_idle_every
        self.offline_after = settings.beat_offline_after
        self.prune_every = settings.beat_prune_every
        self.fire_retention = timedelta(days=settings.beat_fire_retention_days)
        self.give_up_after = timedelta(seconds=settings.beat_give_up_after)
        self.max_fires_per_tick = settings.beat_max_fires_per_tick
        self.backoff_min, self.backoff_max = settings.beat_backoff_min, settings.beat_backoff_max
        if settings.beat_catch_up not in CATCH_UP_POLICIES:
            raise PypelineError(f"PYPELINE_BEAT_CATCH_UP must be one of {CATCH_UP_POLICIES}, "
                                f"got {settings.beat_catch_up!r}")
        self.catch_up: CatchUp = "once" if settings.beat_catch_up == "once" else "skip"
        self.database_url = settings.resolved_database_url
        self.beat_id = f"{socket.gethostname()}:{os.getpid()}"
        self.dispatcher = Dispatcher(runtime)
        self.claims = FireClaims(settings.broker_url, self.beat_id)
        self.housekeeper = Housekeeper(runtime, self.beat_id)
        # A blackholed PostgreSQL host must not hang beat for minutes (libpq reads this variable).
        os.environ.setdefault("PGCONNECT_TIMEOUT", "5")
        self._store: ScheduleStore | None = None
        self._due = DueSchedule()
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
        self._last_change = clock.monotonic()  # scan for orphans often at start: a previous beat may have died
        self._heartbeat = Heartbeat(settings.resolved_beat_heartbeat_file, clock=clock)
        super().__init__(app, *args, **kwargs)
        self.max_interval = min(float(self.max_interval or settings.beat_max_interval), settings.beat_max_interval)

    # ------------------------------------------------------------------ Celery hooks
    def setup_schedule(self) -> None:
        """Sync config schedules and load the table (if the store is down, keep trying from tick)."""
        self._store_work(self.clock.monotonic())

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One pass: apply changes, fire what is due; returns seconds to sleep (at most max_interval)."""
        self._heartbeat.beat()
        self._store_work(self.clock.monotonic())
        if self._fire_due():
            return 0.0
        sleep = float(self.max_interval)
        look = self._due.next_look()
        if look is not None:
            sleep = min(sleep, max((look - self.clock.now()).total_seconds(), 0.0))
        return sleep

    @property
    def schedule(self) -> dict[str, DatabaseEntry]:
        """The active schedules as Celery entries (introspection only)."""
        return {e.spec.name: DatabaseEntry.from_row(e, self.app) for e in self._due}

    @schedule.setter
    def schedule(self, value: Any) -> None:
        """Celery's base class assigns a dict here; the table is the schedule, so it is ignored."""

    def get_schedule(self) -> dict[str, DatabaseEntry]:
        """Same as `schedule`."""
        return self.schedule

    def sync(self) -> None:
        """Flush state kept only in memory (fires sent during an outage) if the store answers."""
        if self._offline_fires or self._offline_advances or self._unmarked:
            self._store_work(self.clock.monotonic(), housekeeping=False)

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
                removed = self.store.prune_fires(self.clock.now() - self.fire_retention)
                if removed:
                    log.info("beat: pruned %d old fire log rows", removed)
            if housekeeping:
                self.housekeeper.tick(mono, self.store)  # retention (PYPELINE_RUN_RETENTION_DAYS), queued runs
        except _RETRYABLE as exc:
            self._store_failed(exc)
        else:
            if self._down_since is not None:
                log.warning("beat: schedule store reachable again after %.1f s",
                        self.clock.monotonic() - self._down_since)
            self._down_since = None
            self._backoff = self.backoff_min

    def _orphan_scan_interval(self, mono: float) -> float:
        """Scan often only while claims happen: an orphan is a claim that was never marked sent."""
        if mono - self._last_change <= self.redispatch_after + 2 * self.orphan_scan_every:
            return self.orphan_scan_every
        return self.orphan_scan_idle_every

    def _store_failed(self, exc: BaseException) -> None:
        now = self.clock.monotonic()
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
        self._due.clear()
        self._watermark = self.store.each_live_row(self._due.apply)
        release_free_memory()  # the load's transient row objects: give their pages back
        self._loaded = True
        log.info("beat: %d active schedule(s) loaded (watermark %d)", len(self._due), self._watermark)

    def _refresh(self) -> None:
        watermark, rows = self.store.load_changed(self._watermark)
        if watermark != self._watermark:
            self._last_change = self.clock.monotonic()
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
        now = self.clock.now()
        for fire in self.store.orphans(now - timedelta(seconds=self.redispatch_after)):
            if fire.id in self._unmarked:
                continue
            self._resend(fire, now)

    def _resend(self, fire: FireRow, now: datetime) -> None:
        row: DueEntry | ScheduleRow | None = self._due.get(fire.schedule_id) or self.store.get(fire.schedule_id)
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
        self._due.apply(row)

    def _advance(self, entry: DueEntry, due: datetime, plan: FirePlan, *, fired: bool) -> None:
        self._due.put(DueEntry(entry.id, entry.spec, plan.next_fire_at, due if fired else entry.last_fired_at,
                            entry.total_fires + (1 if fired else 0)))

    def _fire_due(self) -> bool:
        """Handle due slots; True when the per-tick budget ran out with more due."""
        now = self.clock.now()
        for _ in range(self.max_fires_per_tick):
            item = self._due.pop_due(now)
            if item is None:
                return False
            self._fire(*item, now)
        return self._due.has_due(now)

    def _fire(self, row: DueEntry, due: datetime, now: datetime) -> None:
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
                    self._due.discard(row.id)
                    self._reload_ids.add(row.id)
                    return
                self._advance(row, due, plan, fired=fire)
                self._log_plan(row, due, plan, problem)
                if fire_id:
                    self._send(row, fire_id, msg_id, due)
                return
        self._fire_offline(row, due, plan, problem, msg_id)

    def _log_plan(self, row: DueEntry, due: datetime, plan: FirePlan, problem: str | None) -> None:
        if problem is not None:
            log.error("beat: schedule %s (%s) %s", row.id, row.spec.name, problem)
        elif plan.caught_up:
            log.warning("beat: schedule %s missed slots since %s; catch-up %s%s", row.id, due.isoformat(),
                        self.catch_up, " (fired once)" if plan.fire else " (skipped)")

    def _send(self, row: DueEntry | ScheduleRow, fire_id: int, msg_id: str, due: datetime, *,
              resend: bool = False) -> None:
        if not (self.claims.take_over(msg_id) if resend else self.claims.claim(msg_id)):
            # Published already: by a beat cut off from the store, or by one that could not record it.
            # (A claim held by another live beat means that beat re-sends it; it marks the fire itself.)
            if resend or self.claims.sent(msg_id):
                log.warning("beat: fire %s of %s was already sent; not sending it again", msg_id, row.id)
                self._mark_sent(fire_id)
            return
        try:
            self.dispatcher.send(row.id, row.spec, msg_id, resend=resend, producer=self.producer)
        except PypelineError as exc:
            log.error("beat: fire of %s cannot be sent: %s", row.id, exc)
            self._mark_unsent(fire_id, row.id, str(exc), final=True)
        except Exception as exc:  # noqa: BLE001 - broker/store trouble: the fire stays pending and is re-sent
            log.warning("beat: fire of %s not sent yet (%s: %s); will retry", row.id, type(exc).__name__, exc)
            self._last_change = self.clock.monotonic()  # keep looking for it until it is sent
            self._mark_unsent(fire_id, row.id, f"{type(exc).__name__}: {exc}", final=False)
        else:
            self.claims.mark_sent(msg_id)  # first: a re-sender checks it even if the store write below fails
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

    def _fire_offline(self, row: DueEntry, due: datetime, plan: FirePlan, problem: str | None,
                      msg_id: str) -> None:
        down_for = 0.0 if self._down_since is None else self.clock.monotonic() - self._down_since
        if not self._loaded or down_for < self.offline_after:
            # A short blip: wait for the store rather than risk a fire another beat also claims.
            self._due.retry_at(row, due, self.clock.now() + timedelta(seconds=self.backoff_min))
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
                self._due.retry_at(row, due, self.clock.now() + timedelta(seconds=self._backoff))
                return
            else:
                fired = True
                self.claims.mark_sent(msg_id)
                self._offline_fires.append(OfflineFire(row.id, due, plan.next_fire_at, msg_id, self.clock.now(),
                                                       self.beat_id))
                log.warning("beat: fired %s due %s from memory (store unreachable)", row.id, due.isoformat())
        self._offline_advances[row.id] = plan.next_fire_at
        self._advance(row, due, plan, fired=fired)

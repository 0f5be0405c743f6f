"""Beat's periodic operations work: prune old runs (retention) and admit queued runs (maxActiveRuns).

Runs from beat's tick on whichever beat holds the housekeeping lease, so several beats never prune or
admit at the same moment.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from pypeline.scheduler.store import ScheduleStore
from pypeline.store.locks import NamedLock
from pypeline.store.models import utcnow
from pypeline.store.retention import prune_batch_runs, prune_runs

if TYPE_CHECKING:
    from pypeline.runtime import Runtime

__all__ = ["Housekeeper"]

log = logging.getLogger(__name__)


class Housekeeper:
    """Retention pruning (hourly) and the queued-run sweep (every `sweep_every` s; hourly when no pipeline has
    `maxActiveRuns`), lease-guarded."""

    #: Seconds between prunes, and between sweeps of queued runs.
    prune_every: float = 3600.0
    sweep_every: float = 15.0

    def __init__(self, runtime: Runtime, holder: str) -> None:
        self.rt = runtime
        self.holder = holder
        self._last_prune = self._last_sweep = self._lock_refused = float("-inf")
        self._lock: NamedLock | None = None
        # Only pipelines with `maxActiveRuns` ever queue runs; without any, the sweep finds nothing, so it runs
        # (and takes the lease, a database write) as rarely as the prune: an idle beat stays off the database.
        if not any(p.max_active_runs is not None for p in runtime.config.pipelines.values()):
            self.sweep_every = max(self.sweep_every, self.prune_every)

    def tick(self, mono: float, schedules: ScheduleStore) -> None:
        """Do whatever is due; raises store errors for beat's backoff."""
        days = self.rt.settings.run_retention_days
        prune_due = days > 0 and mono - self._last_prune >= self.prune_every
        sweep_due = mono - self._last_sweep >= self.sweep_every
        if not (prune_due or sweep_due) or mono - self._lock_refused < Housekeeper.sweep_every:
            return  # (with retention off, waiting for a prune must not make every tick take the lease)
        if self._lock is None:
            ttl = max(Housekeeper.sweep_every * 3, 30.0)
            self._lock = NamedLock(self.rt.store.engine, "housekeeping", self.holder, ttl)
        if not self._lock.acquire():
            self._lock_refused = mono  # another beat holds it: ask again in 15 s, not every tick
            return
        if sweep_due:
            self._last_sweep = mono
            started = self.rt.launcher.sweep()
            if started:
                log.info("beat: started %d queued run(s)", len(started))
        if prune_due:
            self._last_prune = mono
            before = utcnow() - timedelta(days=days)
            prune_batch_runs(self.rt.store.engine, before)
            removed = prune_runs(self.rt.store.engine, before)
            fires = schedules.prune_fires(before)
            if removed or fires:
                log.info("beat: retention pruned %d run(s) and %d fire(s) older than %s days", removed, fires, days)

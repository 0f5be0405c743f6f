"""Run the heartbeat and the reconciler inside every worker: a Celery worker bootstep, no extra process.

Why in workers and not in beat: workers are the one process every deployment runs (beat is optional and
the embedded `pypeline run` has none), so healing needs no extra service. Only one worker reconciles at a
time: each tries every `PYPELINE_RECONCILE_INTERVAL` to take the `reconciler` lock in the store
(`pypeline.store.locks.NamedLock`, a lease of three intervals), and only the holder runs a pass. A killed
leader's lock expires and another worker takes over; every change a pass makes is guarded in the store,
so two passes overlapping (a paused leader, `pypeline runs recover` by hand) cannot run a node twice.

A leader back from a store outage waits one heartbeat interval before re-queueing expired leases: leases
of live workers may have lapsed during the outage, and their heartbeats renew them within that interval.
Timeouts and lost messages are handled at once.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Celery, bootsteps

from pypeline.reconciler.heartbeat import POLL_S, Heartbeat, worker_task_ids
from pypeline.reconciler.reconcile import Reconciler
from pypeline.store import leases
from pypeline.store.locks import NamedLock
from pypeline.tasks.app import runtime_of

__all__ = ["ReconcilerLoop", "ReconcilerStep", "install", "LOCK_NAME"]

log = logging.getLogger(__name__)

#: Name of the leader lock in `pypeline_locks`.
LOCK_NAME = "reconciler"


class ReconcilerLoop:
    """A daemon thread that runs reconciler passes while this process holds the leader lock."""

    def __init__(self, runtime: Any, holder: str | None = None) -> None:
        settings = runtime.settings
        self.interval = float(settings.reconcile_interval)
        self.reconciler = Reconciler(runtime)
        self.lock = NamedLock(runtime.store.engine, LOCK_NAME, holder or leases.holder_id(),
                              ttl=max(3 * self.interval, 1.0))
        #: Seconds a leader back from a store outage waits before it re-queues expired leases: every live
        #: worker gets one heartbeat to renew the leases that lapsed during the outage first.
        self.grace = float(settings.heartbeat_interval) + 2 * POLL_S
        #: Since when the store answers again after an outage (None: failing now; -inf: no outage seen).
        self._up_since: float | None = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0

    def start(self) -> None:
        """Start the daemon thread (first pass after one interval)."""
        self._thread = threading.Thread(target=self._loop, name="pypeline-reconciler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and hand leadership over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.lock.held:
            try:
                self.lock.release()
            except Exception as exc:  # noqa: BLE001 - it expires by itself
                log.warning("could not release the reconciler lock: %s", exc)

    def step(self, now: float | None = None) -> bool:
        """Try the lock; if held, run one pass. True when this process led."""
        now = time.monotonic() if now is None else now
        try:
            leader = self.lock.acquire()
        except Exception:
            self._up_since = None  # the store is unreachable: leases cannot be renewed either
            raise
        if self._up_since is None:
            self._up_since = now
        if not leader:
            return False
        self.reconciler.run_once(recover_expired=now - self._up_since >= self.grace,
                                 keep_going=lambda: self.lock.held and not self._stop.is_set())
        self.passes += 1
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 - store or broker blip: try again next interval
                log.warning("reconciler pass failed (retrying in %.0f s): %s", self.interval, exc)


class ReconcilerStep(bootsteps.StartStopStep):
    """Worker bootstep: starts the lease heartbeat and the reconciler loop with the worker."""

    label = "pypeline reconciler"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.heartbeat: Heartbeat | None = None
        self.loop: ReconcilerLoop | None = None

    def start(self, parent: Any) -> None:
        """Start the threads if the worker's app was built by Pypeline."""
        runtime = runtime_of(parent.app)
        if runtime is None:
            return
        settings = runtime.settings
        timer = getattr(parent, "timer", None)
        self.heartbeat = Heartbeat(runtime.store, lease_seconds=settings.lease_seconds,
                                   interval=settings.heartbeat_interval, source=lambda: worker_task_ids(timer))
        self.heartbeat.start()
        if settings.reconciler_enabled and runtime.has_config:
            self.loop = ReconcilerLoop(runtime)
            self.loop.start()

    def stop(self, parent: Any) -> None:
        """Stop reconciling; keep the heartbeat until the pool finished its tasks (warm shutdown)."""
        if self.loop is not None:
            self.loop.stop()
            self.loop = None
        if self.heartbeat is not None:
            self.heartbeat.drain()

    def terminate(self, parent: Any) -> None:
        """Cold shutdown: stop everything now."""
        self.stop(parent)
        if self.heartbeat is not None:
            self.heartbeat.stop()

    def shutdown(self, parent: Any) -> None:
        """Worker gone: stop the heartbeat."""
        if self.heartbeat is not None:
            self.heartbeat.stop()


def install(app: Celery) -> None:
    """Add the bootstep to every worker `app` starts (idempotent)."""
    if ReconcilerStep not in app.steps["worker"]:
        app.steps["worker"].add(ReconcilerStep)

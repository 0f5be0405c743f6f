"""The worker's lease heartbeat: one daemon thread in the worker's main process.

Why here and like this: the main process is the one place that knows every task the worker holds, for
every pool. Celery's `celery.worker.state.active_requests` (executing; filled in the main process for
prefork, threads and solo pools alike), `reserved_requests` (received, not started) and the timer's ETA
entries (retries waiting for their countdown) give the task ids; one UPDATE per interval renews the leases
of their rows (`pypeline.store.leases.renew`). A thread in each pool process would miss prefork children
that hang in C code and multiply the round trips; a Celery task would queue behind the work it vouches for.

Every second (in memory) it also notices tasks that left the worker, including those that came and went
between two looks (Celery's `task_received` signal notes every task id); for those, one UPDATE expires the
lease of a row still RUNNING under this worker (`leases.release`): a pool process killed mid-node
(`WorkerLostError`; the message is requeued at once and a copy arriving while the lease looks live is
dropped). The reconciler then re-runs the node within one pass instead of a whole lease.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from celery.signals import task_received
from celery.worker import state as worker_state
from celery.worker.request import Request

from pypeline.errors import PypelineError
from pypeline.store import leases

__all__ = ["Heartbeat", "worker_task_ids", "POLL_S"]

log = logging.getLogger(__name__)

#: Seconds between in-memory looks for tasks that vanished from the worker.
POLL_S = 1.0


def _ids(collection: Any) -> set[str]:
    for _ in range(5):  # the worker's threads change these sets while we copy them
        try:
            return {req.id for req in list(collection) if getattr(req, "id", None)}
        except RuntimeError:
            continue
    return set()


def _scheduled_ids(timer: Any) -> set[str]:
    """Task ids of ETA/countdown requests waiting in the worker's timer (node retries)."""
    schedule = getattr(timer, "schedule", timer)
    out: set[str] = set()
    try:
        entries = list(getattr(schedule, "queue", ()) or ())
    except RuntimeError:
        return out
    for waiting in entries:
        try:
            arg0 = waiting.entry.args[0]
        except (AttributeError, IndexError, TypeError):
            continue
        if isinstance(arg0, Request) and arg0.id:
            out.add(arg0.id)
    return out


def worker_task_ids(timer: Any = None) -> tuple[set[str], set[str]]:
    """(executing or received task ids, ETA-scheduled task ids) of the worker in this process."""
    held = _ids(worker_state.active_requests) | _ids(worker_state.reserved_requests)
    return held, _scheduled_ids(timer) if timer is not None else set()


class Heartbeat:
    """Renews this worker's node leases every `interval` and releases those of vanished tasks every second."""

    def __init__(self, store: Any, *, lease_seconds: float, interval: float,
                 source: Callable[[], tuple[set[str], set[str]]], holder: str | None = None) -> None:
        if not 0 < interval < lease_seconds:
            raise PypelineError(f"the lease heartbeat must renew more often than the lease lasts: got "
                                f"PYPELINE_HEARTBEAT_SECONDS={interval} for PYPELINE_LEASE_SECONDS={lease_seconds}")
        self.store = store
        self.lease_seconds, self.interval = lease_seconds, interval
        self.source = source
        self.holder = holder or leases.holder_id()
        self._stop = threading.Event()
        self._draining = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: Every task id received since it was last seen gone (filled by the `task_received` signal, so a task
        #: that comes and goes between two looks, e.g. killed a moment after its start, is still noticed).
        self._seen: set[str] = set()
        #: Ids found missing at the previous look; released when missing twice (a task being received is
        #: signalled a moment before it enters the worker's request sets).
        self._missing: set[str] = set()
        self._next_renew = 0.0

    def received(self, task_id: str) -> None:
        """Note a task the worker just received (called from the consumer's thread)."""
        with self._lock:
            self._seen.add(task_id)

    def _on_task_received(self, request: Any = None, **_: Any) -> None:
        task_id = getattr(request, "id", None)
        if task_id:
            self.received(task_id)

    def start(self) -> None:
        """Listen for received tasks and start the daemon thread."""
        task_received.connect(self._on_task_received, weak=False)
        self._thread = threading.Thread(target=self._loop, name="pypeline-heartbeat", daemon=True)
        self._thread.start()

    def drain(self) -> None:
        """The worker is stopping: keep renewing until it holds no task any more, then stop."""
        self._draining = True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop now and wait for the thread."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        task_received.disconnect(self._on_task_received)

    def _loop(self) -> None:
        while not self._stop.wait(min(POLL_S, self.interval)):
            try:
                if not self.beat() and self._draining:
                    break
            except Exception as exc:  # noqa: BLE001 - a store blip: the lease has slack for a few misses
                log.warning("lease heartbeat failed (retrying): %s", exc)
        task_received.disconnect(self._on_task_received)

    def beat(self, now: float | None = None) -> bool:
        """One look: release vanished tasks, renew when due; True while the worker holds any task."""
        now = time.monotonic() if now is None else now
        with self._lock:
            seen = set(self._seen)  # before reading the worker's sets: a task received after this is not "gone"
        held, scheduled = self.source()
        current = held | scheduled
        missing = seen - current
        gone = missing & self._missing
        if gone:
            leases.release(self.store.engine, gone, self.holder)
        with self._lock:
            self._seen -= gone
            self._seen |= current
        self._missing = missing - gone
        if current and now >= self._next_renew:
            leases.renew(self.store.engine, current, self.lease_seconds, self.holder)
            self._next_renew = now + self.interval
        return bool(current)

"""One reconciler pass: heal runs that no worker will move on its own.

In order, each step guarded in the store so that several reconcilers (or `pypeline runs recover` beside
the workers' leader) never act twice on one row:

1. **Run timeout** (`maxRunTtl` in a pipeline's metadata): an active run started (or last retried) longer
   ago ends FAILED; its running nodes are FAILED and revoked (terminated), its unstarted ones SKIPPED
   (`leases.timeout_run`, one transaction). Applies to every engine (dyrygent included).
2. **Dead workers**: RUNNING/RETRYING nodes whose lease expired (no heartbeat) go back to QUEUED
   (`leases.requeue_expired`: only if still expired and held by the same task) and are re-published. A node
   that finished meanwhile is never touched, and a stale duplicate of its message finds it finished.
3. **Lost messages**: QUEUED nodes of running runs untouched for `queued_overdue_seconds` are re-published,
   but only when their broker queue is empty (nothing can still deliver them), so a big fan-out waiting in
   a long queue is never duplicated. `force_older_than` (the CLI's `--older-than`) skips the queue check.

Steps 2 and 3 apply to engines that publish their own nodes (they implement `Engine.republish`); the
dyrygent engine's workflow processor publishes its nodes itself, so only the run timeout applies there.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pypeline.engines import subpipelines
from pypeline.engines.base import Engine
from pypeline.errors import PypelineError
from pypeline.reconciler.queues import queue_depth
from pypeline.status import Status
from pypeline.store import leases
from pypeline.store.leases import LeaseRow
from pypeline.store.models import utcnow

__all__ = ["Reconciler", "PassReport", "RECOVERED_EVENT", "TIMED_OUT_EVENT"]

log = logging.getLogger(__name__)

#: Run event recording nodes the reconciler re-published.
RECOVERED_EVENT = "recovered"
#: Run event recording a run ended by its maxRunTtl.
TIMED_OUT_EVENT = "timed_out"
#: The notification event of such a run (`notify.on: [timed_out]`, see pypeline.config.ops.NOTIFY_EVENTS).
TIMED_OUT_NOTIFY = "TIMED_OUT"


@dataclass
class PassReport:
    """What one pass changed: nodes re-published per run, and runs ended by their timeout."""

    expired: dict[str, list[str]] = field(default_factory=dict)  # lease expired -> re-queued and re-published
    overdue: dict[str, list[str]] = field(default_factory=dict)  # QUEUED with a lost message -> re-published
    timed_out: list[str] = field(default_factory=list)
    #: Parent runs whose node waiting on an ended child run was re-published; orphaned children cancelled.
    children_completed: list[str] = field(default_factory=list)
    children_cancelled: list[str] = field(default_factory=list)

    def republished(self) -> dict[str, list[str]]:
        """Every re-published node (by run id), whatever the reason."""
        out: dict[str, list[str]] = {}
        for source in (self.expired, self.overdue):
            for run_id, nodes in source.items():
                out.setdefault(run_id, []).extend(nodes)
        return out

    @property
    def empty(self) -> bool:
        """True when the pass changed nothing."""
        return not (self.expired or self.overdue or self.timed_out or self.children_completed
                    or self.children_cancelled)


def _label(row: LeaseRow) -> str:
    return f"{row.node}[{row.instance}]" if row.instance else row.node


class Reconciler:
    """Runs reconciler passes against one runtime (config, store, engines, Celery app)."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime

    def _republishing_engines(self) -> list[str]:
        return [name for name, engine in self.rt.engines.items()
                if type(engine).republish is not Engine.republish]

    def run_once(self, *, force_older_than: float | None = None, recover_expired: bool = True,
                 keep_going: Callable[[], bool] = lambda: True) -> PassReport:
        """One pass; `keep_going` is asked between steps (a leader that lost its lock stops).

        `recover_expired=False` skips re-queueing expired leases (a leader fresh from a store outage waits
        until live workers had one heartbeat to renew theirs).
        """
        report = PassReport()
        self._timeouts(report)
        if recover_expired and keep_going():
            self._expired(report)
        if keep_going():
            self._overdue(report, force_older_than)
        if keep_going():
            self._subpipelines(report)
        if not report.empty:
            log.warning("reconciler: re-queued %s, re-published %s, timed out %s, sub-pipeline parents %s, "
                        "orphaned children cancelled %s", report.expired, report.overdue, report.timed_out,
                        report.children_completed, report.children_cancelled)
        return report

    # ------------------------------------------------------------------ run timeout
    def _timeouts(self, report: PassReport) -> None:
        try:
            config = self.rt.config
        except PypelineError:  # a runtime with no config (e.g. `runs recover` without one) knows no maxRunTtl
            return
        engine = self.rt.store.engine
        now = utcnow()
        for pipeline in config.pipelines.values():
            ttl = pipeline.max_run_ttl
            if not ttl:
                continue
            for run_id in leases.overrunning_runs(engine, pipeline.id, now - timedelta(seconds=ttl)):
                try:
                    if self.time_out(run_id, ttl):
                        report.timed_out.append(run_id)
                except Exception:  # noqa: BLE001 - one broken run must not stop the pass
                    log.exception("reconciler: could not time out run %s", run_id)

    def time_out(self, run_id: str, ttl: int) -> bool:
        """End a run FAILED for exceeding its maxRunTtl and revoke its running nodes; False if already finished."""
        error = f"run exceeded maxRunTtl of {ttl} s"
        store = self.rt.store
        engine_name = store.get_run(run_id)["engine"]
        outcome = leases.timeout_run(store.engine, run_id, error)
        if not outcome.applied:
            return False
        revoke = list(outcome.revoke)
        try:
            if revoke:
                self.rt.celery.control.revoke(revoke, terminate=True, signal="SIGTERM")
            workflow_ids = getattr(self.rt.engines.get(engine_name), "workflow_ids", None)
            if callable(workflow_ids):
                processors = workflow_ids(run_id)
                if processors:
                    self.rt.celery.control.revoke(processors)  # the dyrygent processor ticks no more
        except Exception as exc:  # noqa: BLE001 - the run is FAILED already; a late result is not recorded
            log.warning("run %s timed out but its tasks could not be revoked: %s", run_id, exc)
        store.add_event(run_id, TIMED_OUT_EVENT, {"max_run_ttl": ttl, "revoked": revoke})
        self.rt.notify_run_finished(run_id, Status.FAILED, event=TIMED_OUT_NOTIFY)
        log.error("run %s failed: %s (revoked %s)", run_id, error, revoke)
        return True

    # ------------------------------------------------------------------ sub-pipelines
    def _subpipelines(self, report: PassReport) -> None:
        try:
            done = subpipelines.sweep(self.rt, self.rt.settings.queued_overdue_seconds)
        except Exception:  # noqa: BLE001 - the next pass tries again
            log.exception("reconciler: sub-pipeline sweep failed")
            return
        report.children_completed += done.completed
        report.children_cancelled += done.cancelled

    # ------------------------------------------------------------------ dead workers
    def _expired(self, report: PassReport) -> None:
        engines = self._republishing_engines()
        if not engines:
            return
        store = self.rt.store
        rows = leases.expired(store.engine, engines)
        if rows:
            moved = leases.requeue_expired(store.engine, rows)
            self._republish(moved, report.expired, "lease expired (worker gone)")

    # ------------------------------------------------------------------ lost messages
    def _overdue(self, report: PassReport, force_older_than: float | None) -> None:
        engines = self._republishing_engines()
        if not engines:
            return
        age = self.rt.settings.queued_overdue_seconds if force_older_than is None else force_older_than
        cutoff = utcnow() - timedelta(seconds=age)
        store = self.rt.store
        rows = leases.overdue_queued(store.engine, engines, cutoff)
        if not rows:
            return
        if force_older_than is None:
            rows = self._with_empty_queues(rows)
        won = leases.touch_queued(store.engine, rows, cutoff)
        self._republish(won, report.overdue, "message overdue (lost)")

    def _with_empty_queues(self, rows: Iterable[LeaseRow]) -> list[LeaseRow]:
        """Only rows whose broker queue holds no message: otherwise theirs may simply still be waiting."""
        default = self.rt.celery.conf.task_default_queue
        depth: dict[str, int | None] = {}
        out = []
        for row in rows:
            queue = row.queue or default
            if queue not in depth:
                depth[queue] = queue_depth(self.rt.celery, queue)
            if depth[queue] == 0:
                out.append(row)
        return out

    # ------------------------------------------------------------------ publishing
    def _republish(self, rows: Iterable[LeaseRow], into: dict[str, list[str]], why: str) -> None:
        by_run: dict[str, list[LeaseRow]] = {}
        for row in rows:
            by_run.setdefault(row.run_id, []).append(row)
        store = self.rt.store
        for run_id, items in by_run.items():
            try:
                engine = self.rt.engine_named(store.get_run(run_id)["engine"])
                engine.republish(run_id, [(r.node, r.instance) for r in items])
                labels = [_label(r) for r in items]
                store.add_event(run_id, RECOVERED_EVENT, {"nodes": labels, "reason": why})
                into[run_id] = [r.node for r in items]
            except Exception:  # noqa: BLE001 - the rows stay QUEUED: the next pass re-publishes them
                log.exception("reconciler: could not re-publish %s of run %s", [_label(r) for r in items], run_id)

"""Start runs under a pipeline's `maxActiveRuns`: reserve a slot or queue, and admit queued runs as slots free."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from pypeline.config.model import PipelineConfig, PypelineConfig
from pypeline.engines.base import Engine
from pypeline.status import Status
from pypeline.store.admission import Admitted, admit_queued, release_reservation, reserve_run, stale_reservations
from pypeline.store.models import utcnow
from pypeline.store.repository import RunStore
from pypeline.store.tags import add_tags
from pypeline.tasks.notify import enqueue_notification

__all__ = ["RunLauncher", "LaunchRuntime", "STALE_RESERVATION_S", "run_finished_hooks"]

log = logging.getLogger(__name__)

#: Seconds a reserved (PENDING, node-less) run may wait for its start before the sweep starts it.
STALE_RESERVATION_S = 60.0


class LaunchRuntime(Protocol):
    """What the launcher uses of the runtime (`pypeline.runtime.Runtime`): config, store, engines."""

    @property
    def config(self) -> PypelineConfig:
        """The loaded config."""
        ...

    @property
    def store(self) -> RunStore:
        """The run store."""
        ...

    def engine_for(self, pipeline: PipelineConfig) -> Engine:
        """The engine that runs `pipeline`."""
        ...


class RunLauncher:
    """How every run starts: straight on its engine, or through the pipeline's run slots."""

    def __init__(self, runtime: LaunchRuntime) -> None:
        self.rt = runtime

    def start(self, pipeline: PipelineConfig, payload: Any, *, run_id: str, origin: str | None,
              tags: Sequence[str] = (), on_limit: str | None = None) -> Status:
        """Start (or queue, or skip) a run; returns its status right after (RUNNING, QUEUED, SKIPPED...)."""
        engine = self.rt.engine_for(pipeline)
        if pipeline.max_active_runs is None:
            engine.start(pipeline, payload, run_id=run_id, origin=origin)
            if tags:
                with self.rt.store.engine.begin() as conn:
                    add_tags(conn, run_id, tags)
            return Status.RUNNING  # engines create runs RUNNING
        status = reserve_run(self.rt.store.engine, run_id=run_id, pipeline_id=pipeline.id, engine_name=engine.name,
                             payload=payload, origin=origin, tags=tags, limit=pipeline.max_active_runs,
                             on_limit=on_limit or pipeline.on_limit)
        if status is Status.PENDING:
            self._start_reserved(pipeline, Admitted(run_id, payload, origin))
        return self.rt.store.run_status(run_id)

    def _start_reserved(self, pipeline: PipelineConfig, run: Admitted) -> None:
        try:
            self.rt.engine_for(pipeline).start(pipeline, run.payload, run_id=run.run_id, origin=run.origin)
        except IntegrityError:
            # Another process started it first, or it was cancelled before its start: nothing to do.
            log.info("reserved run %s of %s was started or cancelled elsewhere", run.run_id, pipeline.id)
        except Exception as exc:
            if release_reservation(self.rt.store.engine, run.run_id, f"could not start: {type(exc).__name__}: {exc}"):
                self.admit(pipeline.id)
            raise

    def admit(self, pipeline_id: str) -> list[str]:
        """Start queued runs of a pipeline while it has free slots; returns the run ids started."""
        pipeline = self.rt.config.pipeline(pipeline_id)
        if pipeline.max_active_runs is None:
            return []
        started: list[str] = []
        for run in admit_queued(self.rt.store.engine, pipeline_id, pipeline.max_active_runs):
            try:
                self._start_reserved(pipeline, run)
                started.append(run.run_id)
            except Exception:  # noqa: BLE001 - one bad start must not strand the other admitted runs
                log.exception("could not start queued run %s of %s", run.run_id, pipeline_id)
        return started

    def sweep(self, stale_after_s: float = STALE_RESERVATION_S) -> list[str]:
        """Periodic safety net: start stale reservations and admit queued runs of every limited pipeline."""
        limited = [p for p in self.rt.config.pipelines.values() if p.max_active_runs is not None]
        started: list[str] = []
        stale = stale_reservations(self.rt.store.engine, utcnow() - timedelta(seconds=stale_after_s),
                                   [p.id for p in limited])
        for run in stale:
            pipeline = self.rt.config.pipeline(self.rt.store.get_run(run.run_id)["pipeline_id"])
            try:
                self._start_reserved(pipeline, run)
                started.append(run.run_id)
            except Exception:  # noqa: BLE001 - retried by the next sweep
                log.exception("could not start reserved run %s", run.run_id)
        for pipeline in limited:
            started += self.admit(pipeline.id)
        return started

    def run_finished(self, pipeline_id: str) -> list[str]:
        """A run of `pipeline_id` ended: its slot is free, start the next queued run(s)."""
        if pipeline_id not in self.rt.config.pipelines:
            return []
        return self.admit(pipeline_id)


def run_finished_hooks(rt: Any, run_id: str, status: Status, *, event: str | None = None) -> None:
    """After a run ended: free its slot (start queued runs) and ask a worker to send its notifications.

    `event` (e.g. TIMED_OUT) is notified instead of `status` when the pipeline asks for it; else `status` is.
    Either way one notification at most.
    """
    config = getattr(rt, "_config", None)
    if config is None or not any(p.max_active_runs or p.notify for p in config.pipelines.values()):
        return
    try:
        pipeline = config.pipelines.get(rt.store.get_run(run_id)["pipeline_id"])
        if pipeline is None:
            return
        if pipeline.notify is not None:
            wanted = event if event is not None and event in pipeline.notify.on else status.value
            if wanted in pipeline.notify.on:
                enqueue_notification(rt.celery, run_id, wanted, pipeline.queue)
        if pipeline.max_active_runs is not None:
            rt.launcher.run_finished(pipeline.id)
    except Exception:  # noqa: BLE001 - the run is finished either way; the periodic sweep admits queued runs
        log.exception("after-run hooks of run %s failed", run_id)

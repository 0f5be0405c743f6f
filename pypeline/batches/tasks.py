"""The batch tasks workers run: the driver (one step, then it re-schedules itself) and `start_batch`.

Workers import this module through the Celery app's `imports` setting (set by the Runtime), and
`shared_task` registers the task in every app of the process. A step is short and holds no lock;
between steps the next step is a countdown message kept by a worker's timer, not a pool slot, so the
driver never blocks the chunk runs it dispatched, even on a one-process worker.

`start_batch` is a task handler (declared in config, usually scheduled) that starts a declared batch; it is
documented at its public path `pypeline.batches.scheduled.start_batch`.
"""
from __future__ import annotations

import logging
from typing import Any

from celery import current_task

from pypeline.batches.driver import DRIVER_TASK, MAX_TICK, drive_step, fail_batch, next_delay, schedule_tick
from pypeline.batches.launch import launch
from pypeline.batches.spec import spec_from_config
from pypeline.errors import InvalidInputError, PypelineError
from pypeline.runtime import Runtime
from pypeline.tasks.app import runtime_of
from pypeline.tasks.shared import shared_task

__all__ = ["drive_batch", "start_batch", "MAX_DRIVER_FAILURES", "MAX_ERROR_DELAY"]

log = logging.getLogger(__name__)

#: Consecutive unexpected errors (store or broker unreachable) after which the batch run is marked FAILED.
MAX_DRIVER_FAILURES = 10
#: Longest pause between steps after an unexpected error, seconds.
MAX_ERROR_DELAY = 30.0


@shared_task(name=DRIVER_TASK, bind=True, ignore_result=True, acks_late=True)
def drive_batch(
    self: Any,
    batch_run_id: str,
    token: str,
    queue: str,
    delay: float = 0.0,
    finished: int = -1,
    failures: int = 0,
) -> str | None:
    """Run one driver step of a batch run and publish the next one while the batch is RUNNING under `token`."""
    rt = runtime_of(self.app, Runtime)
    if rt is None:
        raise PypelineError("the batch driver runs only as a task of a Pypeline worker")
    try:
        outcome = drive_step(rt, batch_run_id, token)
    except Exception as exc:  # noqa: BLE001 - the driver must outlive a store or broker outage
        failures += 1
        error = f"{type(exc).__name__}: {exc}"
        if failures >= MAX_DRIVER_FAILURES:
            log.error("batch run %s: driver gave up after %d errors: %s", batch_run_id, failures, error)
            fail_batch(rt, batch_run_id, token, f"driver gave up after {failures} consecutive errors: {error}")
            return None
        wait = min(max(delay, 1.0) * 2, MAX_ERROR_DELAY)
        log.warning("batch run %s: driver step failed (%s); retrying in %.1f s", batch_run_id, error, wait)
        schedule_tick(rt, batch_run_id, token, queue=queue, delay=wait, finished=finished, failures=failures)
        return None
    if not outcome.active:
        return outcome.status
    wait = next_delay(delay, outcome.started > 0 or outcome.finished != finished, MAX_TICK)
    schedule_tick(rt, batch_run_id, token, queue=queue, delay=wait, finished=outcome.finished)
    return outcome.status


def start_batch(event: dict[str, Any]) -> dict[str, Any]:
    """Start batch `event["batch"]` (with optional `event["overrides"]`); returns its batch run id and status."""
    task = current_task
    runtime = runtime_of(task.app, Runtime) if task else None
    if runtime is None:
        raise PypelineError("start_batch runs only as a task of a Pypeline worker")
    batch_id = event.get("batch")
    if not isinstance(batch_id, str) or not batch_id:
        raise InvalidInputError(f"start_batch needs event['batch'] (a declared batch id), got {batch_id!r}")
    schedule = getattr(task.request, "pypeline_schedule", None) or (task.request.headers or {}).get(
        "pypeline_schedule")
    spec = spec_from_config(runtime.config, batch_id, event.get("overrides"))
    record = launch(runtime, spec, origin=f"schedule:{schedule}" if schedule else "task", driver="worker",
                    batch_run_id=event.get("task_id") or task.request.id)
    return {"batch_run_id": record["id"], "status": record["status"]}

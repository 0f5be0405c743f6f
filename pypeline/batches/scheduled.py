"""A task handler that starts a declared batch, so any schedule (or plain task message) can start one.

Declare it once and schedule it like any task::

    serviceConfig:
      - name: worker
        registeredTasks:
          - handler: pypeline.batches.scheduled.start_batch
    scheduledTasks:
      nightly-files:
        name: Nightly files
        schemaVersion: 1
        enabled: true
        config:
          task: pypeline.batches.scheduled.start_batch
          payload: {batch: nightly-files}          # optional: overrides: {chunkSize: 50}
          schedule: {minute: "0", hour: "3", dayOfWeek: "*", dayOfMonth: "*", monthOfYear: "*"}

The batch run's id is the task id of the message. Beat gives every fire its own stable task id, so a
fire delivered twice (a beat or worker crash) starts one batch run, not two.
"""
from __future__ import annotations

from typing import Any

from celery import current_task

from pypeline.errors import InvalidInputError, PypelineError
from pypeline.services import batches

__all__ = ["start_batch"]


def start_batch(event: dict[str, Any]) -> dict[str, Any]:
    """Start batch `event["batch"]` (with optional `event["overrides"]`); returns its batch run id and status."""
    task = current_task
    runtime = getattr(getattr(task, "app", None), "pypeline", None) if task else None
    if runtime is None:
        raise PypelineError("start_batch runs only as a task of a Pypeline worker")
    batch_id = event.get("batch")
    if not isinstance(batch_id, str) or not batch_id:
        raise InvalidInputError(f"start_batch needs event['batch'] (a declared batch id), got {batch_id!r}")
    schedule = getattr(task.request, "pypeline_schedule", None) or (task.request.headers or {}).get(
        "pypeline_schedule")
    record = batches.start_batch(runtime, batch_id, overrides=event.get("overrides"),
                                 origin=f"schedule:{schedule}" if schedule else "task",
                                 batch_run_id=event.get("task_id") or task.request.id)
    return {"batch_run_id": record["id"], "status": record["status"]}

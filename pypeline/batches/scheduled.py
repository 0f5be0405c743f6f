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

from pypeline.batches.tasks import start_batch

__all__ = ["start_batch"]

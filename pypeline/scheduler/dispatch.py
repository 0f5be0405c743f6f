"""Sending one fire: a declared task as a Celery message, or a declared pipeline as a new run.

Every fire has a message id derived from (schedule id, due time): the Celery task id of a task
fire, the run id of a pipeline fire. A fire re-sent after a crash therefore carries the same id:
a pipeline run is never started twice (the run id is a primary key), and task handlers can
de-duplicate on `event["task_id"]` if they need to.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pypeline.errors import InvalidInputError, NotFoundError
from pypeline.scheduler.spec import ScheduleSpec, check_target
from pypeline.scheduler.timing import utc

if TYPE_CHECKING:
    from pypeline.runtime import Runtime

__all__ = ["Dispatcher", "message_id", "origin_of"]

_NAMESPACE = uuid.UUID("6f1d3c52-8d5e-4d3e-9a57-2f0c1b7d9e41")


def message_id(schedule_id: str, due: datetime) -> str:
    """The task id / run id of the fire of `schedule_id` due at `due` (the same on every beat and retry)."""
    return str(uuid.uuid5(_NAMESPACE, f"{schedule_id}@{utc(due).isoformat()}"))


def origin_of(schedule_id: str) -> str:
    """The `origin` recorded on runs started by a schedule."""
    return f"schedule:{schedule_id}"


class Dispatcher:
    """Sends fires through the runtime's Celery app and engines."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._tasks = frozenset(runtime.config.handlers)
        self._pipelines = frozenset(runtime.config.pipelines)

    def problem(self, spec: ScheduleSpec) -> str | None:
        """Why this spec cannot be fired with the loaded config (undeclared target), or None."""
        declared = self._tasks if spec.target_kind == "task" else self._pipelines
        if spec.target in declared:
            return None
        try:
            check_target(spec, self.rt.config)
        except InvalidInputError as exc:
            return f"not fired: {exc}"
        return None

    def default_queue(self) -> str:
        """Queue of a task fire whose schedule names none: the first queue the config names."""
        return self.rt.config.queues()[0]

    def send(self, schedule_id: str, spec: ScheduleSpec, msg_id: str, *, resend: bool = False,
             producer: Any = None) -> None:
        """Publish the fire; raises PypelineError for a fire that can never be sent, anything else to retry."""
        problem = self.problem(spec)
        if problem is not None:
            raise InvalidInputError(problem)
        if spec.target_kind == "task":
            self._send_task(schedule_id, spec, msg_id, producer)
        else:
            self._start_pipeline(schedule_id, spec, msg_id, resend=resend)

    def _send_task(self, schedule_id: str, spec: ScheduleSpec, msg_id: str, producer: Any) -> None:
        options: dict[str, Any] = {"queue": spec.queue or self.default_queue()}
        if spec.exchange:
            options["exchange"] = spec.exchange
        if spec.routing_key:
            options["routing_key"] = spec.routing_key
        if spec.expires:
            options["expires"] = spec.expires
        self.rt.celery.send_task(
            spec.target, kwargs={"event": dict(spec.payload)}, task_id=msg_id, producer=producer,
            headers={"celery_beat_task": True, "pypeline_schedule": schedule_id}, **options,
        )

    def _start_pipeline(self, schedule_id: str, spec: ScheduleSpec, run_id: str, *, resend: bool) -> None:
        if resend:
            try:
                self.rt.store.get_run(run_id)
                return  # the first attempt got as far as creating the run: it was sent
            except NotFoundError:
                pass
        self.rt.start_run(spec.target, dict(spec.payload), run_id=run_id, origin=origin_of(schedule_id),
                          tags=spec.tags)

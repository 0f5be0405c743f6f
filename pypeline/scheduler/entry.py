"""Celery's view of a schedule row (`scheduler.schedule`, beat introspection); firing is not done through it."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import Celery
from celery.beat import ScheduleEntry
from celery.schedules import BaseSchedule, schedstate

from pypeline.scheduler.due import DueEntry
from pypeline.scheduler.store import ScheduleRow
from pypeline.store.models import utcnow

__all__ = ["DatabaseEntry", "PlannedSchedule"]


class PlannedSchedule(BaseSchedule):  # type: ignore[misc]  # celery ships no type information
    """A Celery schedule that reports the next fire time stored in the schedule row."""

    def __init__(self, next_fire_at: datetime | None, app: Celery | None = None) -> None:
        super().__init__(app=app)
        self.next_fire_at = next_fire_at

    def remaining_estimate(self, last_run_at: datetime | None) -> Any:
        """Time left until the stored next fire."""
        if self.next_fire_at is None:
            return None
        return self.next_fire_at - utcnow()

    def is_due(self, last_run_at: datetime | None) -> schedstate:
        """Due when the stored next fire has passed; otherwise the seconds left."""
        if self.next_fire_at is None:
            return schedstate(False, 3600.0)
        left = (self.next_fire_at - utcnow()).total_seconds()
        return schedstate(left <= 0, max(left, 0.0))

    def __repr__(self) -> str:
        return f"<planned: {self.next_fire_at.isoformat() if self.next_fire_at else 'never'}>"


class DatabaseEntry(ScheduleEntry):  # type: ignore[misc]  # celery ships no type information
    """One schedule row as a Celery beat entry (name, task, options, run count)."""

    schedule_id: str = ""

    @classmethod
    def from_row(cls, row: ScheduleRow | DueEntry, app: Celery) -> DatabaseEntry:
        """Build the entry of a row."""
        spec = row.spec
        options = {k: v for k, v in (("queue", spec.queue), ("exchange", spec.exchange),
                                     ("routing_key", spec.routing_key), ("expires", spec.expires)) if v}
        task = spec.target if spec.target_kind == "task" else f"pipeline:{spec.target}"
        entry = cls(name=spec.name, task=task, schedule=PlannedSchedule(row.next_fire_at, app=app),
                    kwargs={"event": dict(spec.payload)}, options=options, last_run_at=row.last_fired_at,
                    total_run_count=row.total_fires, app=app)
        entry.schedule_id = row.id
        return entry

"""The original's `pypeline.celery_beat` names; schedules now live in the database (`pypeline.scheduler`)."""
from __future__ import annotations

from pypeline.deprecation import Moved, moved_names

__all__ = ["SermosScheduler", "SermosEntry", "instantiate_celery_schedule", "convert_to_datetime"]

_MOVED = {
    "SermosScheduler": Moved("pypeline.scheduler.beat:DatabaseScheduler", "pypeline.scheduler.DatabaseScheduler"),
    "SermosEntry": Moved("pypeline.scheduler.entry:DatabaseEntry", "pypeline.scheduler.entry.DatabaseEntry"),
    "instantiate_celery_schedule": Moved("pypeline.compat.beat:instantiate_celery_schedule",
                                         "schedules in the database (pypeline.services.schedules)"),
    "convert_to_datetime": Moved("pypeline.compat.beat:convert_to_datetime", "datetime.fromisoformat"),
}
__getattr__ = moved_names(__name__, _MOVED)

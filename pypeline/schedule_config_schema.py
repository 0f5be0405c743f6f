"""The original's `pypeline.schedule_config_schema` (schedules are now validated by `pypeline.scheduler.spec`)."""
from __future__ import annotations

from pypeline.deprecation import Moved, moved_names

__all__ = ["BaseScheduleSchema", "ScheduleSchemaV1", "ScheduleConfigSchemaV1", "IntervalScheduleSchema",
           "CrontabScheduleSchema"]

_MOVED = {name: Moved(f"pypeline.compat.schemas:{name}", "pypeline.scheduler.spec.parse_schedule")
          for name in __all__}
__getattr__ = moved_names(__name__, _MOVED)

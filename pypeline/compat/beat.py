"""The original's beat helpers: a Celery schedule object from a `scheduledTasks` entry, and its date format."""
from __future__ import annotations

import datetime as dt
from typing import Any

from celery.schedules import crontab, schedule

from pypeline.errors import InvalidInputError

__all__ = ["SCHEDULE_DATE_FORMAT", "convert_to_datetime", "instantiate_celery_schedule", "schedule_type"]

#: The original's `lastRunAt` string format.
SCHEDULE_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
_CRON_KEYS = ("minute", "hour", "dayOfWeek", "dayOfMonth", "monthOfYear")


def convert_to_datetime(datetime_str: str, datetime_format: str = SCHEDULE_DATE_FORMAT) -> dt.datetime:
    """Parse a `lastRunAt`-style string."""
    return dt.datetime.strptime(datetime_str, datetime_format)


def schedule_type(config: dict[str, Any]) -> str:
    """`config.scheduleType`, or inferred from the schedule's keys as original users' files expect."""
    declared = config.get("scheduleType")
    if declared:
        return str(declared).strip()
    keys = set(config.get("schedule") or {})
    if keys & set(_CRON_KEYS):
        return "crontab"
    if keys & {"every", "period"}:
        return "interval"
    raise InvalidInputError("scheduleType is missing and the schedule has neither crontab nor interval keys")


def instantiate_celery_schedule(schedule_entry: dict[str, Any]) -> schedule:
    """A Celery `schedule` (interval) or `crontab` for one original-format `scheduledTasks` entry."""
    config = schedule_entry["config"]
    kind = schedule_type(config)
    spec = config["schedule"]
    if kind == "interval":
        return schedule(run_every=dt.timedelta(**{str(spec["period"]).strip(): spec["every"]}))
    if kind == "crontab":
        fields = {key: str(spec.get(key, "*")).strip() for key in _CRON_KEYS}
        return crontab(minute=fields["minute"], hour=fields["hour"], day_of_week=fields["dayOfWeek"],
                       day_of_month=fields["dayOfMonth"], month_of_year=fields["monthOfYear"])
    raise InvalidInputError(f"unsupported scheduleType {kind!r}; expected 'interval' or 'crontab'")

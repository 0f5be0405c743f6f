"""When a schedule fires: the one parser of interval, crontab and timezone fields, shared by config and beat.

`pypeline validate` (config/validate) and beat's `ScheduleSpec` (scheduler/spec, scheduler/shapes) both
call these functions, so a schedule one accepts the other accepts, with the same messages and codes.

Intervals: any length from one microsecond (`SHORTEST_INTERVAL_SECONDS`, the original's smallest
unit) to 100 years is accepted. Beat looks at due schedules about once a second, so an interval
shorter than `MIN_INTERVAL_SECONDS` runs every `MIN_INTERVAL_SECONDS` (`effective_interval`): the
original's `every: 500, period: microseconds` fires once a second, as under Celery beat's 1 s loop.
"""
from __future__ import annotations

import math
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from croniter import croniter

from pypeline.config import codes
from pypeline.config.fields import Field, Reporter, Table, check_mapping
from pypeline.config.yaml_source import join_path
from pypeline.errors import InvalidInputError

__all__ = [
    "MIN_INTERVAL_SECONDS",
    "SHORTEST_INTERVAL_SECONDS",
    "MAX_INTERVAL_SECONDS",
    "INTERVAL_PERIODS",
    "CRONTAB_FIELDS",
    "CRONTAB_KEYS",
    "CRON_FIELD_NAMES",
    "INTERVAL_SCHEDULE",
    "CRONTAB_SCHEDULE",
    "TimingError",
    "Timing",
    "zone",
    "cron_is_valid",
    "interval_seconds",
    "effective_interval",
    "crontab_problems",
    "parse_timing",
]

#: Shortest interval beat runs a schedule at: it looks at due schedules about once a second.
MIN_INTERVAL_SECONDS = 1.0
#: Shortest interval accepted (one microsecond, the original's smallest period); shorter than
#: MIN_INTERVAL_SECONDS it runs every MIN_INTERVAL_SECONDS.
SHORTEST_INTERVAL_SECONDS = 1e-6
#: Longest interval (100 years): the next fire must stay a representable date.
MAX_INTERVAL_SECONDS = 100 * 365.25 * 86400
#: Interval periods (the original's timedelta keywords) and their length in seconds.
INTERVAL_PERIODS: dict[str, float] = {
    "microseconds": 1e-6, "seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0,
}
#: YAML key -> (ScheduleConfig.crontab key, position in a five-field cron expression)
CRONTAB_FIELDS: dict[str, tuple[str, int]] = {
    "minute": ("minute", 0),
    "hour": ("hour", 1),
    "dayOfWeek": ("day_of_week", 4),
    "dayOfMonth": ("day_of_month", 2),
    "monthOfYear": ("month_of_year", 3),
}
#: YAML crontab key -> position in the five-field expression (minute hour day-of-month month day-of-week).
CRONTAB_KEYS: dict[str, int] = {key: position for key, (_, position) in
                                sorted(CRONTAB_FIELDS.items(), key=lambda item: item[1][1])}
#: Names of the five cron fields, in order, for error messages.
CRON_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")

INTERVAL_SCHEDULE = Table(
    "an interval schedule",
    {
        "every": Field("number", required=True, gt=0, doc="How many periods between runs."),
        "period": Field("str", required=True, choices=tuple(INTERVAL_PERIODS), doc="Unit of 'every'."),
    },
)

CRONTAB_SCHEDULE = Table("a crontab schedule", {
    key: Field("cron", default="*", doc=f"Crontab {name.replace('_', ' ')} field, e.g. '*/5', '1-5', 'mon-fri'.")
    for key, (name, _) in CRONTAB_FIELDS.items()
})


class TimingError(InvalidInputError):
    """A schedule's timing value breaks a rule (config reports it with a stable code, the API as a 400)."""


@dataclass(frozen=True)
class Timing:
    """The parsed timing of a config schedule."""

    kind: Literal["interval", "crontab"]
    #: The interval as written (beat runs it every `effective_interval(interval_seconds)`).
    interval_seconds: float | None = None
    #: crontab fields by ScheduleConfig key (minute, hour, day_of_week, day_of_month, month_of_year).
    crontab: dict[str, str] | None = None

    @property
    def cron(self) -> str | None:
        """The five-field cron string (minute hour day-of-month month day-of-week) of a crontab timing."""
        if self.crontab is None:
            return None
        by_position = {position: self.crontab[name] for name, position in CRONTAB_FIELDS.values()}
        return " ".join(by_position[position] for position in range(5))


@lru_cache(maxsize=256)
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone `name`; raises ValueError for an unknown name."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown timezone {name!r}; expected an IANA name like 'Europe/Paris' or 'UTC'") \
            from exc


def cron_is_valid(expression: str) -> bool:
    """True when `expression` is a valid five-field cron expression that fires at least once."""
    if len(expression.split()) != 5:
        return False
    try:
        if not croniter.is_valid(expression):
            return False
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)  # "31 2": valid syntax, never fires
    except Exception:  # noqa: BLE001 - croniter raises odd types on some malformed input
        return False
    return True


def interval_seconds(every: float, period: str) -> float:
    """Length of `every` `period`s in seconds; raises TimingError unless it is 1 µs to 100 years long."""
    seconds = float(every) * INTERVAL_PERIODS[period]
    if not math.isfinite(seconds) or seconds > MAX_INTERVAL_SECONDS:
        raise TimingError(f"interval of {every:g} {period} is too large (at most 100 years)")
    if not seconds >= SHORTEST_INTERVAL_SECONDS:
        raise TimingError("interval must be at least one microsecond")
    return seconds


def effective_interval(seconds: float) -> float:
    """The interval beat runs at: `seconds`, or MIN_INTERVAL_SECONDS when shorter."""
    return max(seconds, MIN_INTERVAL_SECONDS)


def _field_ok(text: str, position: int) -> bool:
    if not text or any(ch.isspace() for ch in text):
        return False
    parts = ["*"] * 5
    parts[position] = text
    return cron_is_valid(" ".join(parts))


def crontab_problems(fields: Mapping[str, str]) -> list[tuple[str | None, str]]:
    """(YAML key, or None for the whole schedule; message) of each problem of the crontab fields (missing ones '*')."""
    problems: list[tuple[str | None, str]] = []
    for key, (_, position) in CRONTAB_FIELDS.items():
        text = fields.get(key, "*")
        if not _field_ok(text, position):
            problems.append((key, f"Invalid {key}: `{text}`. Must be valid crontab pattern."))
    if not problems:
        expression = " ".join(fields.get(key, "*") for key in CRONTAB_KEYS)
        if not cron_is_valid(expression):
            problems.append((None, f"invalid crontab '{expression}': it never fires (no such date)"))
    return problems


def _schedule_type(schedule: dict[Any, Any], path: str, rep: Reporter) -> str | None:
    keys = set(schedule)
    is_cron = bool(keys & set(CRONTAB_FIELDS))
    is_interval = bool(keys & set(INTERVAL_SCHEDULE.fields))
    if is_cron == is_interval:
        rep.error(path, "cannot tell the schedule type from the schedule's keys; set scheduleType: "
                        "interval (every/period) or crontab (minute/hour/dayOfWeek/dayOfMonth/monthOfYear)",
                  code=codes.AMBIGUOUS_SCHEDULE)
        return None
    return "crontab" if is_cron else "interval"


def parse_timing(schedule_type: str | None, schedule: Any, path: str, rep: Reporter) -> Timing | None:
    """The timing of a schedule config at `path` (`scheduleType`, `schedule`), or None after reporting why.

    `schedule_type` is the checked `scheduleType` (None: infer it from the schedule's keys, unless
    the value at `path.scheduleType` already failed).
    """
    if not isinstance(schedule, dict):
        return None
    spath = join_path(path, "schedule")
    stype = schedule_type
    if stype is None:
        if join_path(path, "scheduleType") in rep.source.failed:
            return None
        stype = _schedule_type(schedule, spath, rep)
        if stype is None:
            return None
    if stype == "interval":
        return _interval(schedule, spath, rep)
    return _crontab(schedule, spath, rep)


def _interval(schedule: dict[Any, Any], path: str, rep: Reporter) -> Timing | None:
    interval = check_mapping(schedule, INTERVAL_SCHEDULE, path, rep)
    if interval is None or "every" not in interval or "period" not in interval:
        return None
    try:
        seconds = interval_seconds(interval["every"], interval["period"])
    except TimingError as exc:
        rep.error(join_path(path, "every"), str(exc), code=codes.BAD_INTERVAL)
        return None
    return Timing(kind="interval", interval_seconds=seconds)


def _crontab(schedule: dict[Any, Any], path: str, rep: Reporter) -> Timing | None:
    fields = check_mapping(schedule, CRONTAB_SCHEDULE, path, rep)
    if fields is None:
        return None
    problems = crontab_problems(fields)
    for key, message in problems:
        rep.error(join_path(path, key) if key else path, message, code=codes.BAD_CRONTAB)
    if problems or any(key not in fields for key in CRONTAB_FIELDS):
        return None  # a field of the wrong type was reported by check_mapping
    return Timing(kind="crontab", crontab={name: fields[key] for key, (name, _) in CRONTAB_FIELDS.items()})

"""Field parsers of a schedule document (API, CLI and compat input): each checks one value and records problems.

Timing values go through `pypeline.config.schedule_timing`, the parser `pypeline validate` uses, so
a schedule the config accepts beat accepts, with the same messages.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pypeline.config.fields import Reporter
from pypeline.config.schedule_timing import (
    CRON_FIELD_NAMES,
    CRONTAB_FIELDS,
    INTERVAL_SCHEDULE,
    TimingError,
    cron_is_valid,
    effective_interval,
    interval_seconds,
    parse_timing,
    zone,
)
from pypeline.config.yaml_source import SourceMap
from pypeline.errors import InvalidInputError
from pypeline.scheduler.timing import utc
from pypeline.store.tags import normalize_tags

__all__ = [
    "TargetKind",
    "Problems",
    "text",
    "timestamp",
    "interval",
    "original_timing",
    "cron_expression",
    "tags",
    "payload",
    "bool_value",
    "positive_int",
    "target",
    "check_unknown",
    "timezone",
]

TargetKind = Literal["task", "pipeline"]
#: Keys of an interval or crontab `config.schedule` (a one-off one has only `at`).
_TIMING_KEYS = frozenset(INTERVAL_SCHEDULE.fields) | frozenset(CRONTAB_FIELDS)


class Problems:
    """Collects every problem of one input, then raises them together."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        """Record one problem."""
        self.items.append(message)

    def raise_if_any(self) -> None:
        """Raise InvalidInputError with every problem recorded, if any."""
        if self.items:
            raise InvalidInputError("invalid schedule: " + "; ".join(self.items))


def text(value: Any, what: str, problems: Problems, *, pattern: re.Pattern[str] | None = None,
          required: bool = False, limit: int = 200) -> str | None:
    """A stripped non-empty string (length-limited, optionally matching `pattern`), or None after a problem."""
    if value is None:
        if required:
            problems.add(f"{what} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add(f"{what} must be a non-empty string, got {value!r}")
        return None
    value = value.strip()
    if len(value) > limit:
        problems.add(f"{what} is longer than {limit} characters")
        return None
    if pattern is not None and not pattern.match(value):
        problems.add(f"{what} {value!r} may only contain letters, digits and _ . - : @")
        return None
    return str(value)


def timestamp(value: Any, tz_name: str, problems: Problems) -> datetime | None:
    """An aware UTC datetime from an ISO-8601 value (naive values are read in `tz_name`)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            problems.add(f"one-off time {value!r} is not an ISO-8601 timestamp")
            return None
    else:
        problems.add(f"one-off time must be an ISO-8601 string, got {value!r}")
        return None
    if parsed.tzinfo is None:
        try:
            parsed = parsed.replace(tzinfo=zone(tz_name))
        except ValueError:
            return None  # the bad timezone is reported on its own
    return utc(parsed)


def interval(every: Any, period: str, problems: Problems) -> float | None:
    """Seconds between fires of `every` `period`s as beat runs them (see schedule_timing), or None after a problem."""
    if isinstance(every, bool) or not isinstance(every, (int, float)):
        problems.add(f"interval 'every' must be a number, got {every!r}")
        return None
    try:
        return effective_interval(interval_seconds(every, period))
    except TimingError as exc:
        problems.add(str(exc))
        return None


def original_timing(stype: Any, schedule: Any, tz_name: str, problems: Problems) -> dict[str, Any]:
    """ScheduleSpec timing fields of the original shape's `config.scheduleType` and `config.schedule`.

    Interval and crontab schedules are parsed by the config's own parser (same rules, same messages);
    the API adds one-off schedules (`{at: ...}`) and lets a bare `every` count seconds.
    """
    if not isinstance(schedule, dict):
        problems.add("config.schedule must be a mapping ({every, period}, crontab fields, or {at})")
        return {}
    keys = set(schedule)
    if stype == "oneoff" or (stype is None and "at" in keys and not keys & _TIMING_KEYS):
        check_unknown(schedule, {"at"}, "one-off schedule", problems)
        return {"kind": "oneoff", "run_at": timestamp(schedule.get("at"), tz_name, problems)}
    if stype not in (None, "interval", "crontab"):
        problems.add(f"scheduleType must be 'interval', 'crontab' or 'oneoff', got {stype!r}")
        return {}
    if "every" in keys and "period" not in keys and stype != "crontab":
        schedule = {**schedule, "period": "seconds"}
    rep = Reporter(SourceMap("<schedule>"))
    parsed = parse_timing(stype, schedule, "config", rep)
    for issue in rep.issues:
        problems.add(f"{issue.path}: {issue.message}")
    if parsed is None:
        if not rep.issues:
            problems.add("config.schedule is not a valid interval or crontab schedule")
        return {}
    if parsed.kind == "interval":
        assert parsed.interval_seconds is not None
        return {"kind": "interval", "interval_seconds": effective_interval(parsed.interval_seconds)}
    return {"kind": "crontab", "cron": parsed.cron}


def cron_expression(value: Any, problems: Problems) -> str | None:
    """A five-field cron string, checked field by field, or None after a problem."""
    if not isinstance(value, str):
        problems.add(f"cron must be a string of five fields 'minute hour day-of-month month day-of-week', "
                     f"got {value!r}")
        return None
    fields = value.split()
    if len(fields) != 5:
        problems.add(f"invalid cron expression {value!r}: expected five fields 'minute hour day-of-month month "
                     f"day-of-week', got {len(fields)}")
        return None
    bad = []
    for position, field_value in enumerate(fields):
        single = ["*"] * 5
        single[position] = field_value
        if not cron_is_valid(" ".join(single)):
            bad.append(f"{CRON_FIELD_NAMES[position]} {field_value!r}")
    if bad:
        problems.add(f"invalid cron expression {value!r}: bad {', '.join(bad)}")
        return None
    expression = " ".join(fields)
    if not cron_is_valid(expression):
        problems.add(f"invalid cron expression {value!r}: it never fires (no such date)")
        return None
    return expression


def tags(value: Any, problems: Problems) -> tuple[str, ...]:
    """Run tags of a schedule (see pypeline.store.tags): a list of strings, or one string."""
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list):
        problems.add(f"tags must be a list of strings, got {type(value).__name__}")
        return ()
    try:
        return tuple(normalize_tags(values))
    except InvalidInputError as exc:
        problems.add(str(exc))
        return ()


def payload(value: Any, problems: Problems) -> dict[str, Any]:
    """A JSON object (deep-copied through JSON), or {} after a problem."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(f"payload must be a JSON object, got {type(value).__name__}")
        return {}
    try:
        copied: dict[str, Any] = json.loads(json.dumps(value))
        return copied
    except (TypeError, ValueError) as exc:
        problems.add(f"payload is not JSON-serialisable: {exc}")
        return {}


def bool_value(value: Any, what: str, problems: Problems, default: bool) -> bool:
    """A boolean (default when absent), or the default after a problem."""
    if value is None:
        return default
    if not isinstance(value, bool):
        problems.add(f"{what} must be true or false, got {value!r}")
        return default
    return value


def positive_int(value: Any, what: str, problems: Problems) -> int | None:
    """A positive integer (seconds) or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        problems.add(f"{what} must be a positive integer (seconds), got {value!r}")
        return None
    return value


def target(task: Any, pipeline: Any, problems: Problems) -> tuple[TargetKind, str] | None:
    """('task' | 'pipeline', name) of exactly one target, or None after a problem."""
    if task is not None and pipeline is not None:
        problems.add("a schedule takes either 'task' or 'pipeline', not both")
        return None
    if task is None and pipeline is None:
        problems.add("a schedule needs 'task' (a declared handler path) or 'pipeline' (a declared pipeline id)")
        return None
    kind: TargetKind = "task" if task is not None else "pipeline"
    name = text(task if task is not None else pipeline, kind, problems, limit=300)
    return (kind, name) if name is not None else None


def check_unknown(data: dict[str, Any], allowed: Iterable[str], where: str, problems: Problems) -> None:
    """Record a problem naming the keys of `data` that are not `allowed`."""
    unknown = sorted(str(k) for k in set(data) - set(allowed))
    if unknown:
        problems.add(f"unknown {where} keys {unknown}")


def timezone(value: Any, problems: Problems) -> str:
    """The stripped IANA timezone name (default UTC), checked with the config rule."""
    if value is None:
        return "UTC"
    if not isinstance(value, str):
        problems.add(f"timezone must be a string, got {value!r}")
        return "UTC"
    try:
        zone(value.strip())
    except ValueError as exc:
        problems.add(str(exc))
        return "UTC"
    return value.strip()

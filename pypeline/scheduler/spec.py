"""What a schedule is (ScheduleSpec), parsed and validated from the accepted input shapes and from config.

Two input shapes are accepted (see `parse_schedule`):

* the original's `scheduledTasks` entry (reference §3)::

    {"name": "Nightly", "schemaVersion": 1, "enabled": true,
     "config": {"scheduleType": "crontab",            # or "interval" / "oneoff"; inferred when absent
                "task": "pkg.mod.fn",                  # or "pipeline": "<pipeline id>"
                "queue": "q", "exchange": "x", "routingKey": "rk", "expires": 3600,
                "schedule": {"minute": "0", "hour": "2", "dayOfWeek": "*", "dayOfMonth": "*", "monthOfYear": "*"},
                # interval: {"every": 30, "period": "seconds"}; one-off: {"at": "2030-01-01T02:00:00+01:00"}
                "timezone": "Europe/Paris", "payload": {...}}}

* a flat shape::

    {"name": "Nightly", "task": "pkg.mod.fn" | "pipeline": "<id>",
     "cron": "0 2 * * *" | "every": 30 (seconds) | "at": "2030-01-01T02:00:00Z",
     "timezone": "Europe/Paris", "payload": {...}, "enabled": true,
     "queue": "q", "exchange": "x", "routing_key": "rk", "expires": 3600}
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from pypeline.config.model import PypelineConfig, ScheduleConfig
from pypeline.errors import InvalidInputError
from pypeline.formats import iso_utc
from pypeline.scheduler.timing import cron_is_valid, utc, zone
from pypeline.store.tags import normalize_tags

__all__ = [
    "ScheduleSpec",
    "parse_schedule",
    "merge_schedule",
    "spec_from_config",
    "spec_document",
    "check_target",
    "describe_interval",
    "CRON_FIELD_NAMES",
    "MIN_INTERVAL_SECONDS",
    "MAX_INTERVAL_SECONDS",
    "SPEC_FIELDS",
    "INTERVAL_PERIODS",
]

TargetKind = Literal["task", "pipeline"]
Kind = Literal["crontab", "interval", "oneoff"]

#: Shortest interval a schedule may have: beat looks at due schedules about once a second.
MIN_INTERVAL_SECONDS = 1.0
#: Longest interval (100 years): the next fire must stay a representable date.
MAX_INTERVAL_SECONDS = 100 * 365.25 * 86400
INTERVAL_PERIODS = {"microseconds": 1e-6, "seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0}
#: Original crontab keys -> position in the five-field expression (minute hour day-of-month month day-of-week).
CRONTAB_KEYS = {"minute": 0, "hour": 1, "dayOfMonth": 2, "monthOfYear": 3, "dayOfWeek": 4}
_NAME_PATTERN = re.compile(r"^[\w.\-:@]+$")
_TOP_KEYS = {"id", "name", "schemaVersion", "enabled", "config"}
#: Keys that schedule documents returned by this module carry; accepted back and ignored.
_OUTPUT_KEYS = {"source", "lastRunAt", "totalRunCount", "nextRunAt", "lastError", "createdAt", "updatedAt",
                "version", "apiFields", "args", "kwargs"}
_CONFIG_KEYS = {"scheduleType", "task", "pipeline", "queue", "exchange", "routingKey", "expires", "schedule",
                "timezone", "payload", "tags"}
_FLAT_KEYS = {"id", "name", "enabled", "task", "pipeline", "cron", "every", "interval", "at", "timezone", "payload",
              "tags",
              "queue", "exchange", "routing_key", "routingKey", "expires", "schemaVersion"}
_FLAT_TIMING = ("cron", "every", "interval", "at")


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """The definition of a schedule (no bookkeeping): target, payload, timing and message options."""

    name: str
    target_kind: TargetKind
    target: str
    kind: Kind
    payload: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None
    timezone: str = "UTC"
    interval_seconds: float | None = None
    run_at: datetime | None = None
    enabled: bool = True
    queue: str | None = None
    exchange: str | None = None
    routing_key: str | None = None
    expires: int | None = None
    #: Tags given to every run this schedule starts.
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(self.tags or ()))  # a stored row may hold a list or NULL

    def timing(self) -> tuple[Any, ...]:
        """The fields that decide when it fires (a change means: compute the next fire from now)."""
        return (self.kind, self.cron, self.timezone, self.interval_seconds, self.run_at)

    def values(self) -> dict[str, Any]:
        """Column values of this spec."""
        return asdict(self)


#: Names of the definition fields (the columns a spec owns).
SPEC_FIELDS: tuple[str, ...] = tuple(ScheduleSpec.__dataclass_fields__)


class _Problems:
    """Collects every problem of one input, then raises them together."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidInputError("invalid schedule: " + "; ".join(self.items))


def _text(value: Any, what: str, problems: _Problems, *, pattern: re.Pattern[str] | None = None,
          required: bool = False, limit: int = 200) -> str | None:
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
    return value


def _timestamp(value: Any, tz_name: str, problems: _Problems) -> datetime | None:
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


def _interval(every: Any, period: Any, problems: _Problems) -> float | None:
    if isinstance(every, bool) or not isinstance(every, (int, float)):
        problems.add(f"interval 'every' must be a number, got {every!r}")
        return None
    if not isinstance(period, str) or period not in INTERVAL_PERIODS:
        problems.add(f"interval period must be one of {sorted(INTERVAL_PERIODS)}, got {period!r}")
        return None
    seconds = float(every) * INTERVAL_PERIODS[period]
    if not seconds > 0:
        problems.add(f"interval must be positive, got every={every!r} {period}")
        return None
    if seconds < MIN_INTERVAL_SECONDS:
        problems.add(f"interval of {seconds:g} s is shorter than the {MIN_INTERVAL_SECONDS:g} s minimum")
        return None
    if seconds > MAX_INTERVAL_SECONDS:
        problems.add(f"interval of {every:g} {period} is too large (at most 100 years)")
        return None
    return seconds


def _cron_from_fields(schedule: dict[str, Any], problems: _Problems) -> str | None:
    unknown = sorted(set(schedule) - set(CRONTAB_KEYS))
    if unknown:
        problems.add(f"unknown crontab keys {unknown}; expected {sorted(CRONTAB_KEYS)}")
        return None
    parts = ["*"] * 5
    ok = True
    for key, position in CRONTAB_KEYS.items():
        value = schedule.get(key, "*")
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip() or any(ch.isspace() for ch in value.strip()):
            problems.add(f"Invalid {key}: `{value}`. Must be valid crontab pattern.")
            ok = False
            continue
        single = ["*"] * 5
        single[position] = value.strip()
        if not cron_is_valid(" ".join(single)):
            problems.add(f"Invalid {key}: `{value}`. Must be valid crontab pattern.")
            ok = False
            continue
        parts[position] = value.strip()
    expression = " ".join(parts)
    if ok and not cron_is_valid(expression):
        problems.add(f"invalid crontab {expression!r}: it never fires (no such date)")
        return None
    return expression if ok else None


#: Names of the five cron fields, in order, for error messages.
CRON_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")


def _cron_expression(value: Any, problems: _Problems) -> str | None:
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


def _tags(value: Any, problems: _Problems) -> tuple[str, ...]:
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


def _payload(value: Any, problems: _Problems) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(f"payload must be a JSON object, got {type(value).__name__}")
        return {}
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        problems.add(f"payload is not JSON-serialisable: {exc}")
        return {}


def _bool(value: Any, what: str, problems: _Problems, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        problems.add(f"{what} must be true or false, got {value!r}")
        return default
    return value


def _positive_int(value: Any, what: str, problems: _Problems) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        problems.add(f"{what} must be a positive integer (seconds), got {value!r}")
        return None
    return value


def _target(task: Any, pipeline: Any, problems: _Problems) -> tuple[TargetKind, str] | None:
    if task is not None and pipeline is not None:
        problems.add("a schedule takes either 'task' or 'pipeline', not both")
        return None
    if task is None and pipeline is None:
        problems.add("a schedule needs 'task' (a declared handler path) or 'pipeline' (a declared pipeline id)")
        return None
    kind: TargetKind = "task" if task is not None else "pipeline"
    name = _text(task if task is not None else pipeline, kind, problems, limit=300)
    return (kind, name) if name is not None else None


def _check_unknown(data: dict[str, Any], allowed: Iterable[str], where: str, problems: _Problems) -> None:
    unknown = sorted(str(k) for k in set(data) - set(allowed))
    if unknown:
        problems.add(f"unknown {where} keys {unknown}")


def _timezone(value: Any, problems: _Problems) -> str:
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


def _parse_original(data: dict[str, Any], problems: _Problems) -> dict[str, Any]:
    _check_unknown(data, _TOP_KEYS | _OUTPUT_KEYS, "schedule", problems)
    if data.get("schemaVersion", 1) != 1:
        problems.add(f"schemaVersion must be 1, got {data.get('schemaVersion')!r}")
    config = data.get("config")
    if not isinstance(config, dict):
        problems.add("'config' must be a mapping")
        return {}
    _check_unknown(config, _CONFIG_KEYS, "schedule config", problems)
    tz_name = _timezone(config.get("timezone"), problems)
    schedule = config.get("schedule")
    stype = config.get("scheduleType")
    timing: dict[str, Any] = {}
    if not isinstance(schedule, dict):
        problems.add("config.schedule must be a mapping ({every, period}, crontab fields, or {at})")
    else:
        if stype is None:
            keys = set(schedule)
            if keys & set(CRONTAB_KEYS):
                stype = "crontab"
            elif keys & {"every", "period"}:
                stype = "interval"
            elif "at" in keys:
                stype = "oneoff"
            else:
                problems.add("cannot tell the schedule type from config.schedule; set scheduleType")
        if stype == "crontab":
            timing = {"kind": "crontab", "cron": _cron_from_fields(schedule, problems)}
        elif stype == "interval":
            _check_unknown(schedule, {"every", "period"}, "interval schedule", problems)
            timing = {"kind": "interval",
                      "interval_seconds": _interval(schedule.get("every"), schedule.get("period", "seconds"),
                                                    problems)}
        elif stype == "oneoff":
            _check_unknown(schedule, {"at"}, "one-off schedule", problems)
            timing = {"kind": "oneoff", "run_at": _timestamp(schedule.get("at"), tz_name, problems)}
        elif stype is not None:
            problems.add(f"scheduleType must be 'interval', 'crontab' or 'oneoff', got {stype!r}")
    return {
        "name": data.get("name"),
        "enabled": data.get("enabled"),
        "target": _target(config.get("task"), config.get("pipeline"), problems),
        "payload": config.get("payload"),
        "tags": config.get("tags"),
        "timezone": tz_name,
        "queue": config.get("queue"),
        "exchange": config.get("exchange"),
        "routing_key": config.get("routingKey"),
        "expires": config.get("expires"),
        **timing,
    }


def _parse_flat(data: dict[str, Any], problems: _Problems) -> dict[str, Any]:
    _check_unknown(data, _FLAT_KEYS | _OUTPUT_KEYS, "schedule", problems)
    tz_name = _timezone(data.get("timezone"), problems)
    given = [k for k in _FLAT_TIMING if data.get(k) is not None]
    timing: dict[str, Any] = {}
    if len(given) != 1:
        problems.add("give exactly one of 'cron' (five fields), 'every' (seconds) or 'at' (ISO timestamp)"
                     + (f"; got {given}" if given else ""))
    elif given[0] == "cron":
        timing = {"kind": "crontab", "cron": _cron_expression(data["cron"], problems)}
    elif given[0] in ("every", "interval"):
        timing = {"kind": "interval", "interval_seconds": _interval(data[given[0]], "seconds", problems)}
    else:
        timing = {"kind": "oneoff", "run_at": _timestamp(data["at"], tz_name, problems)}
    routing_key = data.get("routing_key", data.get("routingKey"))
    return {
        "name": data.get("name"),
        "enabled": data.get("enabled"),
        "target": _target(data.get("task"), data.get("pipeline"), problems),
        "payload": data.get("payload"),
        "tags": data.get("tags"),
        "timezone": tz_name,
        "queue": data.get("queue"),
        "exchange": data.get("exchange"),
        "routing_key": routing_key,
        "expires": data.get("expires"),
        **timing,
    }


def parse_schedule(data: Any) -> ScheduleSpec:
    """Parse and validate a schedule document (original or flat shape); raises InvalidInputError."""
    problems = _Problems()
    if not isinstance(data, dict):
        raise InvalidInputError(f"a schedule must be a JSON object, got {type(data).__name__}")
    raw = _parse_original(data, problems) if "config" in data else _parse_flat(data, problems)
    name = _text(raw.get("name"), "name", problems, required=True)
    enabled = _bool(raw.get("enabled"), "enabled", problems, True)
    payload = _payload(raw.get("payload"), problems)
    queue = _text(raw.get("queue"), "queue", problems, pattern=_NAME_PATTERN)
    exchange = _text(raw.get("exchange"), "exchange", problems, pattern=_NAME_PATTERN)
    routing_key = _text(raw.get("routing_key"), "routingKey", problems, pattern=_NAME_PATTERN)
    expires = _positive_int(raw.get("expires"), "expires", problems)
    tags = _tags(raw.get("tags"), problems)
    problems.raise_if_any()
    target = raw["target"]
    kind = raw["kind"]
    return ScheduleSpec(
        name=name or "", target_kind=target[0], target=target[1], kind=kind, payload=payload,
        cron=raw.get("cron"), timezone=raw["timezone"], interval_seconds=raw.get("interval_seconds"),
        run_at=raw.get("run_at"), enabled=enabled, queue=queue, exchange=exchange, routing_key=routing_key,
        expires=expires, tags=tags,
    )


def merge_schedule(current: ScheduleSpec, changes: Any) -> ScheduleSpec:
    """Apply a partial update (either shape; only the keys given change) to `current`; raises InvalidInputError."""
    if not isinstance(changes, dict):
        raise InvalidInputError(f"a schedule update must be a JSON object, got {type(changes).__name__}")
    if "config" in changes:
        doc = spec_document(current)
        if not isinstance(changes["config"], dict):
            raise InvalidInputError("'config' must be a mapping")
        config = {**doc["config"], **changes["config"]}
        if "task" in changes["config"] or "pipeline" in changes["config"]:
            for key in ("task", "pipeline"):
                if key not in changes["config"]:
                    config.pop(key, None)
        if "schedule" in changes["config"] and "scheduleType" not in changes["config"]:
            config.pop("scheduleType", None)
        return parse_schedule({**doc, **{k: v for k, v in changes.items() if k != "config"}, "config": config})
    flat = _flat_document(current)
    if any(changes.get(k) is not None for k in _FLAT_TIMING):
        for key in _FLAT_TIMING:
            flat.pop(key, None)
    if "task" in changes or "pipeline" in changes:
        flat.pop("task", None)
        flat.pop("pipeline", None)
    if "routingKey" in changes:
        flat.pop("routing_key", None)
    return parse_schedule({**flat, **changes})


def check_target(spec: ScheduleSpec, config: PypelineConfig) -> None:
    """Raise InvalidInputError unless the spec's task or pipeline is declared in `config`."""
    if spec.target_kind == "pipeline":
        if spec.target not in config.pipelines:
            raise InvalidInputError(f"invalid schedule: pipeline {spec.target!r} is not declared in config; "
                                    f"declared: {sorted(config.pipelines)}")
    elif spec.target not in config.handlers:
        raise InvalidInputError(f"invalid schedule: task {spec.target!r} is not a handler declared in config "
                                "(serviceConfig.registeredTasks, taskDefinitions or scheduledTasks)")


def spec_from_config(schedule: ScheduleConfig) -> ScheduleSpec:
    """The spec of a config `scheduledTasks` entry (validated again: e.g. the 1 s interval minimum)."""
    problems = _Problems()
    timing: dict[str, Any]
    if schedule.schedule_type == "crontab":
        timing = {"kind": "crontab", "cron": _cron_expression(schedule.cron_expression, problems)}
    else:
        timing = {"kind": "interval",
                  "interval_seconds": _interval(schedule.interval_seconds, "seconds", problems)}
    problems.raise_if_any()
    return ScheduleSpec(
        name=schedule.name, target_kind="task" if schedule.task else "pipeline",
        target=(schedule.task or schedule.pipeline or "").strip(), payload=dict(schedule.payload),
        timezone=schedule.timezone, enabled=schedule.enabled, queue=schedule.queue, exchange=schedule.exchange,
        routing_key=schedule.routing_key, expires=schedule.expires, tags=_tags(list(schedule.tags), problems),
        **timing,
    )


def describe_interval(every: Any, period: str) -> str:
    """Readable interval: "every minute", "every 10 minutes", "every 1.5 hours"."""
    unit = period[:-1] if period.endswith("s") else period
    if isinstance(every, float) and every.is_integer():
        every = int(every)
    if every == 1:
        return f"every {unit}"
    return f"every {every:g} {unit}s" if isinstance(every, float) else f"every {every} {unit}s"


def _period(seconds: float) -> dict[str, Any]:
    for period in ("days", "hours", "minutes"):
        unit = INTERVAL_PERIODS[period]
        if seconds >= unit and float(seconds / unit).is_integer():
            return {"every": int(seconds / unit), "period": period}
    every: float | int = int(seconds) if float(seconds).is_integer() else seconds
    return {"every": every, "period": "seconds"}


def spec_document(spec: ScheduleSpec) -> dict[str, Any]:
    """The spec in the original's shape (JSON-ready)."""
    if spec.kind == "crontab":
        fields = (spec.cron or "* * * * *").split()
        schedule: dict[str, Any] = {key: fields[pos] for key, pos in CRONTAB_KEYS.items()}
    elif spec.kind == "interval":
        schedule = _period(spec.interval_seconds or 0.0)
    else:
        schedule = {"at": iso_utc(spec.run_at)}
    config: dict[str, Any] = {"scheduleType": spec.kind, spec.target_kind: spec.target, "schedule": schedule,
                              "timezone": spec.timezone, "payload": spec.payload}
    for key, value in (("queue", spec.queue), ("exchange", spec.exchange), ("routingKey", spec.routing_key),
                       ("expires", spec.expires), ("tags", list(spec.tags) or None)):
        if value is not None:
            config[key] = value
    return {"name": spec.name, "schemaVersion": 1, "enabled": spec.enabled, "config": config}


def _flat_document(spec: ScheduleSpec) -> dict[str, Any]:
    flat: dict[str, Any] = {"name": spec.name, spec.target_kind: spec.target, "payload": spec.payload,
                            "timezone": spec.timezone, "enabled": spec.enabled, "queue": spec.queue,
                            "exchange": spec.exchange, "routing_key": spec.routing_key, "expires": spec.expires,
                            "tags": list(spec.tags)}
    if spec.kind == "crontab":
        flat["cron"] = spec.cron
    elif spec.kind == "interval":
        flat["every"] = spec.interval_seconds
    else:
        flat["at"] = iso_utc(spec.run_at)
    return flat

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

The shapes are read by `scheduler/shapes.py`, their fields by `scheduler/spec_fields.py`; interval,
crontab and timezone values by `config/schedule_timing.py`, the parser `pypeline validate` uses.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from pypeline.config.model import PypelineConfig, ScheduleConfig
from pypeline.config.schedule_timing import (
    CRON_FIELD_NAMES,
    CRONTAB_KEYS,
    INTERVAL_PERIODS,
    MAX_INTERVAL_SECONDS,
    MIN_INTERVAL_SECONDS,
    SHORTEST_INTERVAL_SECONDS,
)
from pypeline.errors import InvalidInputError
from pypeline.formats import iso_utc
from pypeline.scheduler import spec_fields as f
from pypeline.scheduler.shapes import FLAT_TIMING, parse_flat, parse_original
from pypeline.scheduler.spec_fields import Problems, TargetKind

__all__ = [
    "ScheduleSpec",
    "parse_schedule",
    "merge_schedule",
    "spec_from_config",
    "spec_document",
    "check_target",
    "describe_interval",
    "CRON_FIELD_NAMES",
    "CRONTAB_KEYS",
    "MIN_INTERVAL_SECONDS",
    "SHORTEST_INTERVAL_SECONDS",
    "MAX_INTERVAL_SECONDS",
    "SPEC_FIELDS",
    "INTERVAL_PERIODS",
]

Kind = Literal["crontab", "interval", "oneoff"]
_NAME_PATTERN = re.compile(r"^[\w.\-:@]+$")



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

def parse_schedule(data: Any) -> ScheduleSpec:
    """Parse and validate a schedule document (original or flat shape); raises InvalidInputError."""
    problems = Problems()
    if not isinstance(data, dict):
        raise InvalidInputError(f"a schedule must be a JSON object, got {type(data).__name__}")
    raw = parse_original(data, problems) if "config" in data else parse_flat(data, problems)
    name = f.text(raw.get("name"), "name", problems, required=True)
    enabled = f.bool_value(raw.get("enabled"), "enabled", problems, True)
    payload = f.payload(raw.get("payload"), problems)
    queue = f.text(raw.get("queue"), "queue", problems, pattern=_NAME_PATTERN)
    exchange = f.text(raw.get("exchange"), "exchange", problems, pattern=_NAME_PATTERN)
    routing_key = f.text(raw.get("routing_key"), "routingKey", problems, pattern=_NAME_PATTERN)
    expires = f.positive_int(raw.get("expires"), "expires", problems)
    tags = f.tags(raw.get("tags"), problems)
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
    if any(changes.get(k) is not None for k in FLAT_TIMING):
        for key in FLAT_TIMING:
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
    """The spec of a config `scheduledTasks` entry, re-checked with the config's own timing rules.

    An interval shorter than MIN_INTERVAL_SECONDS (e.g. the original's `every: 500, period:
    microseconds`) becomes MIN_INTERVAL_SECONDS: beat fires it once a second.
    """
    problems = Problems()
    timing: dict[str, Any]
    if schedule.schedule_type == "crontab":
        timing = {"kind": "crontab", "cron": f.cron_expression(schedule.cron_expression, problems)}
    else:
        timing = {"kind": "interval",
                  "interval_seconds": f.interval(schedule.interval_seconds, "seconds", problems)}
    timezone = f.timezone(schedule.timezone, problems)
    tags = f.tags(list(schedule.tags), problems)
    problems.raise_if_any()
    return ScheduleSpec(
        name=schedule.name, target_kind="task" if schedule.task else "pipeline",
        target=(schedule.task or schedule.pipeline or "").strip(), payload=dict(schedule.payload),
        timezone=timezone, enabled=schedule.enabled, queue=schedule.queue, exchange=schedule.exchange,
        routing_key=schedule.routing_key, expires=schedule.expires, tags=tags, **timing,
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

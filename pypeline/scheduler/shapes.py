"""The two input shapes of a schedule document (the original's `scheduledTasks` entry and a flat one).

Each parser turns its shape into the same raw fields (name, target, timing, options); `parse_schedule`
(scheduler/spec) checks the shared ones and builds the ScheduleSpec.
"""
from __future__ import annotations

from typing import Any

from pypeline.scheduler import spec_fields as f
from pypeline.scheduler.spec_fields import Problems

__all__ = ["parse_original", "parse_flat", "FLAT_TIMING"]

_TOP_KEYS = {"id", "name", "schemaVersion", "enabled", "config"}
#: Keys that schedule documents returned by this module carry; accepted back and ignored.
_OUTPUT_KEYS = {"source", "lastRunAt", "totalRunCount", "nextRunAt", "lastError", "createdAt", "updatedAt",
                "version", "apiFields", "args", "kwargs"}
_CONFIG_KEYS = {"scheduleType", "task", "pipeline", "queue", "exchange", "routingKey", "expires", "schedule",
                "timezone", "payload", "tags"}
_FLAT_KEYS = {"id", "name", "enabled", "task", "pipeline", "cron", "every", "interval", "at", "timezone", "payload",
              "tags", "queue", "exchange", "routing_key", "routingKey", "expires", "schemaVersion"}
#: Flat keys that say when a schedule fires (exactly one is given).
FLAT_TIMING = ("cron", "every", "interval", "at")


def parse_original(data: dict[str, Any], problems: Problems) -> dict[str, Any]:
    """Raw fields of the original shape (`{name, enabled, config: {scheduleType, schedule, task, ...}}`)."""
    f.check_unknown(data, _TOP_KEYS | _OUTPUT_KEYS, "schedule", problems)
    if data.get("schemaVersion", 1) != 1:
        problems.add(f"schemaVersion must be 1, got {data.get('schemaVersion')!r}")
    config = data.get("config")
    if not isinstance(config, dict):
        problems.add("'config' must be a mapping")
        return {}
    f.check_unknown(config, _CONFIG_KEYS, "schedule config", problems)
    tz_name = f.timezone(config.get("timezone"), problems)
    timing = f.original_timing(config.get("scheduleType"), config.get("schedule"), tz_name, problems)
    return {
        "name": data.get("name"),
        "enabled": data.get("enabled"),
        "target": f.target(config.get("task"), config.get("pipeline"), problems),
        "payload": config.get("payload"),
        "tags": config.get("tags"),
        "timezone": tz_name,
        "queue": config.get("queue"),
        "exchange": config.get("exchange"),
        "routing_key": config.get("routingKey"),
        "expires": config.get("expires"),
        **timing,
    }


def parse_flat(data: dict[str, Any], problems: Problems) -> dict[str, Any]:
    """Raw fields of the flat shape (`{name, task|pipeline, cron|every|at, ...}`)."""
    f.check_unknown(data, _FLAT_KEYS | _OUTPUT_KEYS, "schedule", problems)
    tz_name = f.timezone(data.get("timezone"), problems)
    given = [k for k in FLAT_TIMING if data.get(k) is not None]
    timing: dict[str, Any] = {}
    if len(given) != 1:
        problems.add("give exactly one of 'cron' (five fields), 'every' (seconds) or 'at' (ISO timestamp)"
                     + (f"; got {given}" if given else ""))
    elif given[0] == "cron":
        timing = {"kind": "crontab", "cron": f.cron_expression(data["cron"], problems)}
    elif given[0] in ("every", "interval"):
        timing = {"kind": "interval", "interval_seconds": f.interval(data[given[0]], "seconds", problems)}
    else:
        timing = {"kind": "oneoff", "run_at": f.timestamp(data["at"], tz_name, problems)}
    routing_key = data.get("routing_key", data.get("routingKey"))
    return {
        "name": data.get("name"),
        "enabled": data.get("enabled"),
        "target": f.target(data.get("task"), data.get("pipeline"), problems),
        "payload": data.get("payload"),
        "tags": data.get("tags"),
        "timezone": tz_name,
        "queue": data.get("queue"),
        "exchange": data.get("exchange"),
        "routing_key": routing_key,
        "expires": data.get("expires"),
        **timing,
    }

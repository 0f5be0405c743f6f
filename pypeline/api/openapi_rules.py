"""Request-body schemas for the OpenAPI document that state the server's real rules for this config.

The marshmallow schemas check shapes; the services check the rest (declared targets, timezones, cron
fields, interval bounds, batch override limits). These JSON schemas put those rules in the document, built
from the loaded config, so a client (or schemathesis) that follows the document is not refused. What no
JSON schema can state is listed in `UNSTATABLE_RULES` and documented as a 400 in docs/api.md.
"""
from __future__ import annotations

import copy
import math
import zoneinfo
from functools import cache
from typing import Any

from apispec import APISpec

from pypeline.batches.spec import FILTER_OPTIONS, MAX_CHUNK_SIZE, MAX_CONCURRENCY, RESERVED_PAYLOAD_KEYS
from pypeline.config.model import PypelineConfig
from pypeline.config.schema import MAX_EXPIRES_S
from pypeline.scheduler.spec import INTERVAL_PERIODS, MAX_INTERVAL_SECONDS, SHORTEST_INTERVAL_SECONDS
from pypeline.scheduler.timing import zone

__all__ = ["schedule_body_schema", "batch_overrides_schema", "apply_rules", "UNSTATABLE_RULES", "cron_field_pattern"]

#: Server rules no JSON schema can state; each answers 400 `invalid_input` (see docs/api.md).
UNSTATABLE_RULES = (
    "payloadSchema",  # chain_payload / schedule payload must match the pipeline's own JSON Schema
    "in the past",  # a one-off time must still be ahead
    "min_size",  # a batch's min_size may not exceed its max_size
    "bytes, over the",  # payload size limit (PYPELINE_MAX_PAYLOAD_BYTES)
    "never fires",  # a crontab naming no real date (day 31 of February)
    "invalid JSON body:",  # strict JSON limits: NUL in strings, integer digits, nesting depth (input_checks)
    "must be earlier than",  # a run search's created_after must come before its created_before
    "must not be after",  # a backfill's 'from' must not come after its 'to'
)
_NAME = {"type": "string", "pattern": r"^[\w.\-:@]+$", "maxLength": 200}
_ID = {"type": "string", "pattern": r"^[\w.\-:@]{1,200}$"}
#: (smallest, largest) value of each original crontab key (day-of-week 0 and 7 are Sunday).
_CRON_RANGES = {"minute": (0, 59), "hour": (0, 23), "dayOfMonth": (1, 31), "monthOfYear": (1, 12),
                "dayOfWeek": (0, 7)}


def _number_alternatives(low: int, high: int) -> str:
    return "|".join(str(n) for n in range(high, low - 1, -1))  # longest first so "59" wins over "5"


def cron_field_pattern(key: str) -> str:
    """A regex for one crontab field: `*`, `*/step`, a value, or a comma list of values (a safe subset)."""
    low, high = _CRON_RANGES[key]
    value = f"(?:{_number_alternatives(low, high)})"
    step = f"(?:{_number_alternatives(1, max(high, 1))})"
    item = rf"(?:\*(?:/{step})?|{value})"
    return rf"^{item}(?:,{item})*$"


@cache
def _timezones() -> tuple[str, ...]:
    names = []
    for name in sorted(zoneinfo.available_timezones()):
        try:
            zone(name)
        except ValueError:
            continue
        names.append(name)
    return tuple(names)


def _interval_bounds(seconds: float) -> tuple[float, float]:
    """Smallest and largest `every` the server accepts for a period of `seconds` (same float arithmetic)."""
    low, high = SHORTEST_INTERVAL_SECONDS / seconds, MAX_INTERVAL_SECONDS / seconds
    while low * seconds < SHORTEST_INTERVAL_SECONDS:
        low = math.nextafter(low, math.inf)
    while high * seconds > MAX_INTERVAL_SECONDS:
        high = math.nextafter(high, -math.inf)
    return low, high


def _interval_schema() -> dict[str, Any]:
    """`{every, period}`: one alternative per period so `every` has that period's bounds."""
    options = []
    for period, seconds in INTERVAL_PERIODS.items():
        low, high = _interval_bounds(seconds)
        options.append({
            "type": "object", "additionalProperties": False, "required": ["every", "period"],
            "properties": {"every": {"type": "number", "minimum": low, "maximum": high},
                           "period": {"type": "string", "enum": [period]}},
        })
    low, high = _interval_bounds(1.0)
    options.append({"type": "object", "additionalProperties": False, "required": ["every"],
                    "properties": {"every": {"type": "number", "minimum": low, "maximum": high}}})
    return {"oneOf": options, "description": "every N periods (default seconds; under one second runs once a second)"}


def _crontab_schema(min_properties: int) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "minProperties": min_properties,
            "properties": {key: {"oneOf": [
                {"type": "string", "pattern": cron_field_pattern(key)},
                {"type": "integer", "minimum": low, "maximum": high},
                {"type": "null"}]} for key, (low, high) in _CRON_RANGES.items()},
            "description": "crontab fields (missing or null ones are '*')"}


def _oneoff_schema() -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": ["at"],
            "properties": {"at": {"type": "string", "format": "date-time",
                                  "description": "ISO 8601; must be in the future"}}}


def _targets(config: PypelineConfig) -> list[dict[str, Any]]:
    """Task xor pipeline, each limited to what the config declares (with its payload)."""
    options: list[dict[str, Any]] = []
    if config.handlers:
        options.append({"required": ["task"], "properties": {"task": {"type": "string",
                                                                       "enum": list(config.handlers)}}})
    if config.pipelines:
        options.append({"required": ["pipeline"], "properties": {"pipeline": {"type": "string",
                                                                               "enum": sorted(config.pipelines)}}})
    return options


def _config_schema(config: PypelineConfig) -> dict[str, Any]:
    common = {
        "queue": _NAME, "exchange": _NAME, "routingKey": _NAME,
        "expires": {"type": "integer", "minimum": 1, "maximum": MAX_EXPIRES_S},
        "timezone": {"type": "string", "enum": list(_timezones())},
        "payload": {"type": "object"},
    }
    # (scheduleType, whether it must be given, schedule shape): without scheduleType the shape tells the type.
    timings = [("interval", False, _interval_schema()), ("crontab", True, _crontab_schema(0)),
               ("crontab", False, _crontab_schema(1)), ("oneoff", False, _oneoff_schema())]
    variants = []
    for kind, type_given, schedule in timings:
        for target in _targets(config):
            variant: dict[str, Any] = {
                "type": "object", "additionalProperties": False,
                "required": ["schedule", *target["required"], *(["scheduleType"] if type_given else [])],
                "properties": {**common, **target["properties"], "scheduleType": {"type": "string", "enum": [kind]},
                               "schedule": schedule},
            }
            if kind == "crontab" and not type_given:
                variant["not"] = {"required": ["scheduleType"]}
            variants.append(variant)
    return {"oneOf": variants}


def schedule_body_schema(config: PypelineConfig) -> dict[str, Any]:
    """The POST /schedules/ body: an original `scheduledTasks` entry whose target is declared in `config`."""
    return {
        "type": "object", "additionalProperties": False, "required": ["name", "config"],
        "properties": {
            "id": _ID,
            "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
            "schemaVersion": {"type": "integer", "enum": [1]},
            "enabled": {"type": "boolean"},
            "config": _config_schema(config),
        },
        "description": "A scheduledTasks entry. `task` must be a declared handler and `pipeline` a declared "
                       "pipeline (exactly one); scheduleType may be left out. The CLI's flat shape ({name, "
                       "task|pipeline, cron|every|at, timezone, payload, ...}) is accepted too (docs/scheduler.md).",
    }


def batch_overrides_schema() -> dict[str, Any]:
    """`overrides` of a batch start: chunking, payload and the generator's filters (never its location)."""
    filters = {
        "prefix": {"type": "string"},
        "include": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "exclude": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "recursive": {"type": "boolean"},
        "skip_common_hidden": {"type": "boolean"},
        "min_size": {"type": "integer", "minimum": 0},
        "max_size": {"type": "integer", "minimum": 0},
        "modified_since": {"type": "string", "format": "date-time"},
    }
    filters = {key: value for key, value in filters.items() if key in FILTER_OPTIONS}
    return {
        "type": "object", "additionalProperties": False, "nullable": True,
        "properties": {
            "chunkSize": {"type": "integer", "minimum": 1, "maximum": MAX_CHUNK_SIZE},
            "concurrency": {"type": "integer", "minimum": 1, "maximum": MAX_CONCURRENCY},
            "payloadKey": {"type": "string", "pattern": r"\S", "not": {"enum": list(RESERVED_PAYLOAD_KEYS)}},
            "payload": {"type": "object"},
            "generator": {"type": "object", "additionalProperties": False, "properties": filters},
        },
        "description": "min_size may not exceed max_size; snake_case spellings (chunk_size, payload_key) and "
                       "the `regex` filter are accepted too",
    }


def _replace_body(spec: APISpec, path: str, method: str, update: Any) -> None:
    # apispec keeps registered operations as plain dicts (to_dict() hands out the same objects): edit in place.
    operation = spec.to_dict().get("paths", {}).get(path, {}).get(method)
    content = (operation or {}).get("requestBody", {}).get("content", {}).get("application/json")
    if content is not None:
        update(content)


#: Query values may not hold C0 control characters or DEL (pypeline.http.input_checks refuses them with 422).
NO_CONTROL_CHARACTERS = "^[^\\u0000-\\u001f\\u007f]*$"


def _forbid_control_characters(spec: APISpec) -> None:
    """State the query-value rule in the document: every string query parameter gets the pattern."""
    for operations in spec.to_dict().get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for param in operation.get("parameters", []):
                schema = param.get("schema", {}) if isinstance(param, dict) and param.get("in") == "query" else {}
                items = schema.get("items") if schema.get("type") == "array" else None
                for target in (schema, items):
                    if isinstance(target, dict) and target.get("type") == "string" and "pattern" not in target:
                        target["pattern"] = NO_CONTROL_CHARACTERS


def apply_rules(spec: APISpec, config: PypelineConfig, prefix: str) -> None:
    """Put the config's rules into the request bodies of the schedule and batch operations."""
    _forbid_control_characters(spec)
    spec.components.schema("ScheduleCreate", component=schedule_body_schema(config))

    def schedule_body(content: dict[str, Any]) -> None:
        content["schema"] = {"$ref": "#/components/schemas/ScheduleCreate"}

    _replace_body(spec, f"{prefix}/schedules/", "post", schedule_body)
    if config.batches:
        overrides = batch_overrides_schema()

        def batch_body(content: dict[str, Any]) -> None:
            schema = copy.deepcopy(content["schema"])
            if "$ref" in schema:
                name = schema["$ref"].rsplit("/", 1)[-1]
                schema = copy.deepcopy(spec.to_dict()["components"]["schemas"][name])
            schema.setdefault("properties", {})["overrides"] = overrides
            content["schema"] = schema

        for path in spec.to_dict().get("paths", {}):
            if path.startswith(f"{prefix}/batches/") and path.endswith("/start"):
                _replace_body(spec, path, "post", batch_body)

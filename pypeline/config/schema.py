"""Key tables of the config file (known keys, types, ignored sermos-3 keys) and the generic checks over them."""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pypeline.config.yaml_source import SourceMap, join_path
from pypeline.errors import ConfigIssue

__all__ = [
    "Field",
    "Table",
    "Reporter",
    "check_mapping",
    "check_value",
    "describe",
    "closest",
    "did_you_mean",
    "snake_case",
    "HANDLER_PATTERN",
    "TOP",
    "SERVICE",
    "REGISTERED_TASK",
    "PIPELINE",
    "PIPELINE_CONFIG",
    "METADATA",
    "TASK_DEFINITION",
    "SCHEDULE",
    "SCHEDULE_CONFIG",
    "INTERVAL_SCHEDULE",
    "CRONTAB_SCHEDULE",
    "BATCH",
    "GENERATOR",
    "GENERATOR_KEYS_BY_TYPE",
    "CRONTAB_FIELDS",
    "INTERVAL_PERIODS",
]

Kind = Literal["str", "int", "number", "bool", "mapping", "list", "any", "cron", "timestamp", "strings"]

HANDLER_PATTERN = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$"
NAME_PATTERN = r"^[\w\-]+$"


@dataclass(frozen=True)
class Field:
    """How one key's value is checked: its kind, whether it is required, its default and its bounds."""

    kind: Kind
    required: bool = False
    default: Any = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    pattern_hint: str = ""
    allow_empty: bool = False


@dataclass(frozen=True)
class Table:
    """The keys allowed in one kind of mapping of the file; `ignored` keys are accepted and dropped."""

    where: str
    fields: dict[str, Field]
    ignored: frozenset[str] = frozenset()


@dataclass
class Reporter:
    """Collects ConfigIssues, located through the file's SourceMap."""

    source: SourceMap
    issues: list[ConfigIssue] = field(default_factory=list)

    def error(self, path: str, message: str, *, key: bool = False) -> None:
        """Record an issue at `path` (at its key when `key`, else at its value)."""
        self.issues.append(self.source.issue(message, path, key=key))


def describe(value: Any) -> str:
    """Short human description of a YAML value for 'got ...' messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ('{shown}')"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (datetime, date)):
        return f"a timestamp ({value.isoformat()})"
    return f"a {type(value).__name__}"


def closest(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The candidate closest to `word` (case-sensitive first, then ignoring case), or None."""
    pool = sorted(candidates)
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=cutoff)
    if matches:
        return matches[0]
    lowered = {c.lower(): c for c in pool}
    matches = difflib.get_close_matches(word.lower(), sorted(lowered), n=1, cutoff=cutoff)
    return lowered[matches[0]] if matches else None


def snake_case(key: str) -> str:
    """`endpointUrl` -> `endpoint_url`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def did_you_mean(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str:
    """'; did you mean 'x'?' for the closest candidate, or '' when nothing is close."""
    match = closest(word, candidates, cutoff=cutoff)
    return f"; did you mean '{match}'?" if match else ""


def _expected(spec: Field) -> str:
    base = {
        "str": "a string",
        "int": "an integer",
        "number": "a number",
        "bool": "a boolean (true/false)",
        "mapping": "a mapping",
        "list": "a list",
        "any": "a value",
        "cron": "a crontab field string",
        "timestamp": "a timestamp",
        "strings": "a string or a list of strings",
    }[spec.kind]
    bounds = []
    if spec.gt is not None:
        bounds.append(f"> {spec.gt:g}")
    if spec.ge is not None:
        bounds.append(f">= {spec.ge:g}")
    if spec.le is not None:
        bounds.append(f"<= {spec.le:g}")
    if bounds:
        base += " " + " and ".join(bounds)
    if spec.choices:
        base = "one of " + ", ".join(f"'{c}'" for c in spec.choices)
    return base


def _kind_ok(value: Any, kind: Kind) -> bool:
    if kind == "any":
        return True
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "mapping":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "cron":
        return isinstance(value, (str, int)) and not isinstance(value, bool)
    if kind == "timestamp":
        return isinstance(value, (str, datetime, date))
    if kind == "strings":
        return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    raise AssertionError(kind)


def check_value(value: Any, spec: Field, path: str, name: str, rep: Reporter) -> tuple[bool, Any]:
    """Check one value against its Field; returns (ok, normalised value) and reports what was expected."""
    if not _kind_ok(value, spec.kind):
        # a block list/mapping starts on the line after its key: point at the key instead
        at_key = isinstance(value, (list, dict))
        rep.error(path, f"'{name}' must be {_expected(spec)}, got {describe(value)}", key=at_key)
        return False, None
    if spec.kind == "cron":
        value = str(value).strip()
    elif isinstance(value, str):
        value = value.strip()
        if not value and not spec.allow_empty:
            rep.error(path, f"'{name}' must be a non-empty string")
            return False, None
    if spec.choices is not None and value not in spec.choices:
        hint = did_you_mean(value, spec.choices) if isinstance(value, str) else ""
        rep.error(path, f"'{name}' must be {_expected(spec)}, got {describe(value)}{hint}")
        return False, None
    if spec.kind in ("int", "number"):
        too_small = (spec.gt is not None and value <= spec.gt) or (spec.ge is not None and value < spec.ge)
        if too_small or (spec.le is not None and value > spec.le):
            rep.error(path, f"'{name}' must be {_expected(spec)}, got {value}")
            return False, None
    if spec.pattern is not None and not re.match(spec.pattern, value):
        rep.error(path, f"'{name}' must be {spec.pattern_hint or 'matching ' + spec.pattern}, got {describe(value)}")
        return False, None
    return True, value


def check_mapping(value: Any, table: Table, path: str, rep: Reporter) -> dict[str, Any] | None:
    """Check a mapping against a Table: unknown keys (with suggestions), missing keys, each value's type.

    Returns the known keys with normalised values and defaults filled in (invalid values left out), or None
    when `value` is not a mapping at all. A null `value` counts as an empty mapping.
    """
    if value is None:
        value = {}
    if not isinstance(value, dict):
        rep.error(path, f"{table.where} must be a mapping, got {describe(value)}")
        return None
    out: dict[str, Any] = {}
    suggested: set[str] = set()  # a misspelt required key is reported once, as unknown, not also as missing
    for key, item in value.items():
        key_path = join_path(path, key)
        if key_path in rep.source.failed:
            continue
        spec = table.fields.get(key) if isinstance(key, str) else None
        if spec is None:
            if key in table.ignored:
                continue
            match = closest(str(key), table.fields)
            if match is not None:
                suggested.add(match)
            rep.error(key_path, f"unknown key '{key}' in {table.where}{_suggest(str(key), table)}", key=True)
            continue
        if item is None and not spec.required:
            continue
        ok, normalised = check_value(item, spec, key_path, key, rep)
        if ok:
            out[key] = normalised
    for key, spec in table.fields.items():
        key_path = join_path(path, key)
        if key in out or key_path in rep.source.failed or key in suggested:
            continue
        if spec.required:
            if key not in value:
                rep.error(path, f"missing required key '{key}' in {table.where}", key=True)
            elif value[key] is None:
                rep.error(key_path, f"'{key}' has no value; expected {_expected(spec)}")
        elif spec.default is not None and value.get(key) is None:
            out[key] = spec.default
    return out


def _suggest(key: str, table: Table) -> str:
    hint = did_you_mean(key, table.fields)
    if hint:
        return hint
    return "; expected one of: " + ", ".join(sorted(table.fields))


# --------------------------------------------------------------------------------------------------- tables

_SERMOS3_SERVICE_KEYS = frozenset({
    "serviceType", "imageName", "serviceId", "command", "port", "customDns", "protocol", "replicaCount",
    "cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit", "ephemeralStorageRequest", "ephemeralStorageLimit",
    "healthCheckType", "healthCheckPort", "healthCheckPath", "healthCheckInitialDelaySeconds",
    "healthCheckPeriodSeconds", "healthCheckTimeoutSeconds", "healthCheckSuccessThreshold",
    "healthCheckFailureThreshold",
})

_HANDLER = Field("str", required=True, pattern=HANDLER_PATTERN,
                 pattern_hint="a dotted path like 'package.module.function'")

TOP = Table(
    "the top level",
    {
        "serviceConfig": Field("list"),
        "pipelines": Field("mapping"),
        "scheduledTasks": Field("mapping"),
        "apiConfig": Field("mapping"),
        "batches": Field("mapping"),
    },
    ignored=frozenset({"imageConfig", "environmentVariables"}),
)

SERVICE = Table(
    "a serviceConfig entry",
    {
        "name": Field("str", required=True, pattern=NAME_PATTERN,
                      pattern_hint="letters, digits, '_' and '-' only"),
        "registeredTasks": Field("list"),
    },
    ignored=_SERMOS3_SERVICE_KEYS,
)

REGISTERED_TASK = Table("a registeredTasks entry", {"handler": _HANDLER, "event": Field("any")})

PIPELINE = Table(
    "a pipeline",
    {
        "name": Field("str", required=True),
        "description": Field("str", allow_empty=True),
        "schemaVersion": Field("int", default=1),
        "config": Field("mapping", required=True),
    },
)

PIPELINE_CONFIG = Table(
    "a pipeline config",
    {
        "metadata": Field("mapping"),
        "dagAdjacency": Field("mapping"),
        "taskDefinitions": Field("mapping", required=True),
        "payloadSchema": Field("mapping"),
    },
)

_PRIORITY = Field("int", ge=0, le=9)

METADATA = Table(
    "pipeline metadata",
    {
        "queue": Field("str", default="celery"),
        "processorQueue": Field("str", default="celery"),
        "maxRetry": Field("int", ge=0, default=3),
        "maxTtl": Field("int", gt=0, default=60),
        "retryBackoff": Field("int", ge=0, default=3),
        "retryJitter": Field("bool", default=False),
        "retryBackoffMax": Field("int", ge=0, default=600),
        "engine": Field("str", choices=("event", "dyrygent"), default="event"),
        "priority": _PRIORITY,
    },
)

TASK_DEFINITION = Table(
    "a taskDefinitions entry",
    {
        "handler": _HANDLER,
        "queue": Field("str"),
        "maxTtl": Field("int", gt=0),
        "maxRetry": Field("int", ge=0),
        "retryBackoff": Field("int", ge=0),
        "retryJitter": Field("bool"),
        "retryBackoffMax": Field("int", ge=0),
        "priority": _PRIORITY,
        "split": Field("bool"),
        "splitConcurrency": Field("int", gt=0),
        "filter": Field("bool"),
        "joinKey": Field("str"),
    },
)

SCHEDULE = Table(
    "a scheduledTasks entry",
    {
        "name": Field("str", required=True),
        "schemaVersion": Field("int", default=1),
        "enabled": Field("bool", default=True),
        "lastRunAt": Field("timestamp"),
        "totalRunCount": Field("int", ge=0, default=0),
        "args": Field("list"),
        "kwargs": Field("mapping"),
        "config": Field("mapping", required=True),
    },
)

SCHEDULE_CONFIG = Table(
    "a schedule config",
    {
        "scheduleType": Field("str", choices=("interval", "crontab")),
        "task": Field("str", pattern=HANDLER_PATTERN, pattern_hint="a dotted path like 'package.module.function'"),
        "pipeline": Field("str"),
        "queue": Field("str"),
        "exchange": Field("str"),
        "routingKey": Field("str"),
        "expires": Field("int", gt=0),
        "schedule": Field("mapping", required=True),
        "timezone": Field("str"),
        "payload": Field("mapping"),
    },
)

INTERVAL_PERIODS = ("microseconds", "seconds", "minutes", "hours", "days")

INTERVAL_SCHEDULE = Table(
    "an interval schedule",
    {
        "every": Field("number", required=True, gt=0),
        "period": Field("str", required=True, choices=INTERVAL_PERIODS),
    },
)

#: YAML key -> (ScheduleConfig.crontab key, position in a five-field cron expression)
CRONTAB_FIELDS: dict[str, tuple[str, int]] = {
    "minute": ("minute", 0),
    "hour": ("hour", 1),
    "dayOfWeek": ("day_of_week", 4),
    "dayOfMonth": ("day_of_month", 2),
    "monthOfYear": ("month_of_year", 3),
}

CRONTAB_SCHEDULE = Table("a crontab schedule", {key: Field("cron", default="*") for key in CRONTAB_FIELDS})

BATCH = Table(
    "a batches entry",
    {
        "pipeline": Field("str", required=True),
        "generator": Field("mapping", required=True),
        "chunkSize": Field("int", gt=0, default=100),
        "concurrency": Field("int", gt=0, default=4),
        "payloadKey": Field("str", default="keys"),
    },
)

GENERATOR = Table(
    "a batch generator",
    {
        "type": Field("str", required=True, choices=("s3", "local")),
        "bucket": Field("str"),
        "prefix": Field("str", allow_empty=True),
        "path": Field("str"),
        "include": Field("strings"),
        "exclude": Field("strings"),
        "regex": Field("str"),
        "minSize": Field("int", ge=0),
        "maxSize": Field("int", ge=0),
        "modifiedSince": Field("timestamp"),
        "endpointUrl": Field("str"),
        "region": Field("str"),
        "recursive": Field("bool"),
        # accepted by pypeline.generators (skip .DS_Store, __pycache__ ...), so allowed here too
        "skipCommonHidden": Field("bool"),
        # local only: list file symlinks that resolve outside `path` (off: skipped and logged)
        "followSymlinks": Field("bool"),
    },
)

#: generator option keys that only make sense for one generator type (plus the key that type requires)
GENERATOR_KEYS_BY_TYPE: dict[str, tuple[frozenset[str], str]] = {
    "s3": (frozenset({"bucket", "endpointUrl", "region"}), "bucket"),
    "local": (frozenset({"path", "followSymlinks"}), "path"),
}

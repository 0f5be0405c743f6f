"""Key tables of the config file (known keys, types, ignored sermos-3 keys) and the generic checks over them."""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal

from pypeline.config import codes
from pypeline.config.codes import ErrorCode
from pypeline.config.yaml_source import SourceMap, join_path
from pypeline.errors import ConfigIssue
from pypeline.formats import snake_case

__all__ = [
    "Field",
    "Table",
    "Reporter",
    "check_mapping",
    "check_value",
    "describe",
    "closest",
    "did_you_mean",
    "hint",
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
    #: One-line description, shown by editors on hover (through the generated JSON Schema).
    doc: str = ""


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

    def error(
        self, path: str, message: str, *, code: ErrorCode, key: bool = False, suggestion: str | None = None
    ) -> None:
        """Record an issue with its stable code at `path` (at its key when `key`, else at its value)."""
        self.issues.append(self.source.issue(message, path, key=key, code=code, suggestion=suggestion))


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


def did_you_mean(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str:
    """'; did you mean 'x'?' for the closest candidate, or '' when nothing is close."""
    return hint(word, candidates, cutoff=cutoff)[0]


def hint(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> tuple[str, str | None]:
    """('; did you mean 'x'?', 'x') for the closest candidate, or ('', None) when nothing is close."""
    match = closest(word, candidates, cutoff=cutoff)
    return (f"; did you mean '{match}'?", match) if match else ("", None)


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
        rep.error(path, f"'{name}' must be {_expected(spec)}, got {describe(value)}", key=at_key,
                  code=codes.WRONG_TYPE)
        return False, None
    if spec.kind == "cron":
        value = str(value).strip()
    elif isinstance(value, str):
        value = value.strip()
        if not value and not spec.allow_empty:
            rep.error(path, f"'{name}' must be a non-empty string", code=codes.EMPTY_VALUE)
            return False, None
    if spec.choices is not None and value not in spec.choices:
        text, match = hint(value, spec.choices) if isinstance(value, str) else ("", None)
        rep.error(path, f"'{name}' must be {_expected(spec)}, got {describe(value)}{text}", code=codes.INVALID_CHOICE,
                  suggestion=match)
        return False, None
    if spec.kind in ("int", "number"):
        too_small = (spec.gt is not None and value <= spec.gt) or (spec.ge is not None and value < spec.ge)
        if too_small or (spec.le is not None and value > spec.le):
            rep.error(path, f"'{name}' must be {_expected(spec)}, got {value}", code=codes.OUT_OF_RANGE)
            return False, None
    if spec.pattern is not None and not re.match(spec.pattern, value):
        rep.error(path, f"'{name}' must be {spec.pattern_hint or 'matching ' + spec.pattern}, got {describe(value)}",
                  code=codes.BAD_FORMAT)
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
        rep.error(path, f"{table.where} must be a mapping, got {describe(value)}", code=codes.WRONG_TYPE)
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
            rep.error(key_path, f"unknown key '{key}' in {table.where}{_suggest(str(key), table)}", key=True,
                      code=codes.UNKNOWN_KEY, suggestion=match)
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
                rep.error(path, f"missing required key '{key}' in {table.where}", key=True, code=codes.MISSING_KEY)
            elif value[key] is None:
                rep.error(key_path, f"'{key}' has no value; expected {_expected(spec)}", code=codes.EMPTY_VALUE)
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
        "serviceConfig": Field("list", doc="Worker services and the handlers each one registers."),
        "pipelines": Field("mapping", doc="Pipelines by id: each is a DAG of task definitions."),
        "scheduledTasks": Field("mapping", doc="Schedules by id: run a registered task or a pipeline periodically."),
        "apiConfig": Field("mapping", doc="Free-form API settings (e.g. apiDocumentation); kept as given."),
        "batches": Field("mapping", doc="Batches by id: run a pipeline once per chunk of keys listed by a generator."),
    },
    ignored=frozenset({"imageConfig", "environmentVariables"}),
)

SERVICE = Table(
    "a serviceConfig entry",
    {
        "name": Field("str", required=True, pattern=NAME_PATTERN,
                      pattern_hint="letters, digits, '_' and '-' only",
                      doc="Service name (letters, digits, '_' and '-'); `pypeline worker --service NAME` picks it."),
        "registeredTasks": Field("list",
                                 doc="Handlers it registers: `{handler: pkg.mod.fn}` entries or bare dotted paths."),
    },
    ignored=_SERMOS3_SERVICE_KEYS,
)

REGISTERED_TASK = Table("a registeredTasks entry", {
    "handler": replace(_HANDLER, doc="Dotted path of the handler function, e.g. 'package.module.function'."),
    "event": Field("any", doc="Accepted for sermos compatibility; not used."),
})

PIPELINE = Table(
    "a pipeline",
    {
        "name": Field("str", required=True, doc="Human-readable pipeline name."),
        "description": Field("str", allow_empty=True, doc="What the pipeline does."),
        "schemaVersion": Field("int", default=1, doc="Version of the pipeline format; only 1 exists."),
        "config": Field("mapping", required=True, doc="The pipeline's metadata, DAG and task definitions."),
    },
)

PIPELINE_CONFIG = Table(
    "a pipeline config",
    {
        "metadata": Field("mapping",
                          doc="Defaults for every node of the pipeline (queue, retries, time limit, engine)."),
        "dagAdjacency": Field("mapping", doc="Edges: node name -> list of child node names. Leaf nodes need no entry."),
        "taskDefinitions": Field("mapping", required=True,
                                 doc="Nodes by name, each with its handler and per-node options."),
        "payloadSchema": Field("mapping", doc="JSON Schema every invocation payload must match."),
    },
)

_PRIORITY = Field("int", ge=0, le=9, doc="Celery message priority, 0 (lowest) to 9.")
#: Largest `expires` of a scheduled message, seconds: 10 years.
MAX_EXPIRES_S = 10 * 365 * 24 * 3600
#: Largest run-level timeout (`maxRunTtl`), seconds: 30 days.
MAX_RUN_TTL = 30 * 24 * 3600

METADATA = Table(
    "pipeline metadata",
    {
        "queue": Field("str", default="celery", doc="Default queue of the pipeline's nodes."),
        "processorQueue": Field("str", default="celery",
                                doc="Queue of the orchestration messages (the dyrygent engine's processor)."),
        "maxRetry": Field("int", ge=0, default=3, doc="Default number of retries of a failed node."),
        "maxTtl": Field("int", gt=0, default=60,
                        doc="Default soft time limit of a node in seconds (hard limit = +10 s)."),
        "maxRunTtl": Field("int", ge=1, le=MAX_RUN_TTL,
                           doc="Run-level timeout in seconds: a run still active after it ends FAILED."),
        "retryBackoff": Field("int", ge=0, default=3, doc="Base of the exponential retry backoff, in seconds."),
        "retryJitter": Field("bool", default=False, doc="Randomise retry delays."),
        "retryBackoffMax": Field("int", ge=0, default=600, doc="Largest retry delay, in seconds."),
        "engine": Field("str", choices=("event", "dyrygent"), default="event",
                        doc="Orchestration engine: 'event' (dataflow keys) or 'dyrygent' (sermos-compatible)."),
        "priority": _PRIORITY,
        "maxActiveRuns": Field("int", ge=1, doc="Most runs of this pipeline active at once (see onLimit)."),
        "onLimit": Field("str", choices=("queue", "skip", "fail"), default="queue",
                         doc="Beyond maxActiveRuns: 'queue' waits for a slot, 'skip' records a SKIPPED run, "
                             "'fail' refuses (API 409)."),
        "notify": Field("mapping", doc="Notifications when a run ends: on, webhook, secretEnv, handler, retries."),
    },
)

#: `notify:` in pipeline metadata: who hears about finished runs (see pypeline.config.ops).
NOTIFY = Table(
    "pipeline notify",
    {
        "on": Field("strings", doc="Run outcomes that notify: failed, succeeded, cancelled, timed_out."),
        "webhook": Field("str", pattern=r"^https?://\S+$", pattern_hint="an http:// or https:// URL",
                         doc="URL that receives the run record as a JSON POST."),
        "secretEnv": Field("str", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", pattern_hint="an environment variable name",
                           doc="Environment variable holding the HMAC-SHA256 secret that signs webhook bodies."),
        "handler": Field("str", pattern=HANDLER_PATTERN, pattern_hint="a dotted path module.function",
                         doc="Declared callback called with the run record."),
        "retries": Field("int", ge=0, le=20, default=5, doc="Webhook delivery retries after a failed attempt."),
        "timeout": Field("number", gt=0, le=300, default=10, doc="Seconds one webhook attempt may take."),
        "backoff": Field("number", ge=0, le=3600, default=2, doc="Base of the exponential retry backoff, seconds."),
    },
)

TASK_DEFINITION = Table(
    "a taskDefinitions entry",
    {
        "handler": replace(_HANDLER, required=False,
                           doc="Dotted path of the node's handler; it receives the `event` argument."),
        "pipeline": Field("str", doc="Instead of a handler: id of a pipeline this node starts as a child run; "
                                     "the node's result is the child run's result."),
        "queue": Field("str", doc="Queue of this node (overrides metadata.queue)."),
        "maxTtl": Field("int", gt=0, doc="Soft time limit of this node in seconds (overrides metadata.maxTtl)."),
        "maxRetry": Field("int", ge=0, doc="Retries of this node (overrides metadata.maxRetry)."),
        "retryBackoff": Field("int", ge=0, doc="Retry backoff base of this node, in seconds."),
        "retryJitter": Field("bool", doc="Randomise this node's retry delays."),
        "retryBackoffMax": Field("int", ge=0, doc="Largest retry delay of this node, in seconds."),
        "priority": _PRIORITY,
        "split": Field("bool",
                       doc="Fan out: run downstream nodes once per item of the list this node returns (event engine)."),
        "splitConcurrency": Field("int", gt=0, doc="Most split items in flight at once (needs split: true)."),
        "filter": Field("bool",
                        doc="The node's boolean result decides whether its downstream nodes run (event engine)."),
        "joinKey": Field("str", doc="Join the results of upstream nodes or split items by this key (event engine)."),
    },
)

SCHEDULE = Table(
    "a scheduledTasks entry",
    {
        "name": Field("str", required=True, doc="Unique schedule name."),
        "schemaVersion": Field("int", default=1, doc="Version of the schedule format; only 1 exists."),
        "enabled": Field("bool", default=True, doc="Whether the schedule fires."),
        "lastRunAt": Field("timestamp", doc="When it last ran (kept for sermos compatibility)."),
        "totalRunCount": Field("int", ge=0, default=0, doc="How often it ran (kept for sermos compatibility)."),
        "args": Field("list", doc="Positional arguments passed to the scheduled task."),
        "kwargs": Field("mapping", doc="Keyword arguments passed to the scheduled task."),
        "config": Field("mapping", required=True, doc="What to run and when."),
    },
)

SCHEDULE_CONFIG = Table(
    "a schedule config",
    {
        "scheduleType": Field("str", choices=("interval", "crontab"),
                              doc="'interval' or 'crontab'; inferred from the schedule's keys when omitted."),
        "task": Field("str", pattern=HANDLER_PATTERN, pattern_hint="a dotted path like 'package.module.function'",
                      doc="Registered task to run (a handler declared in serviceConfig.registeredTasks)."),
        "pipeline": Field("str", doc="Pipeline id to invoke (instead of task)."),
        "queue": Field("str", doc="Queue the task message goes to."),
        "exchange": Field("str", doc="Celery exchange of the task message."),
        "routingKey": Field("str", doc="Celery routing key of the task message."),
        "expires": Field("int", gt=0, le=MAX_EXPIRES_S, doc="Seconds after which an undelivered message is dropped."),
        "schedule": Field("mapping", required=True,
                          doc="Interval (every, period) or crontab fields (minute, hour, dayOfWeek, ...)."),
        "timezone": Field("str", doc="IANA timezone of a crontab schedule, e.g. 'Europe/Warsaw' (default UTC)."),
        "payload": Field("mapping", doc="Payload of the pipeline run a schedule starts."),
        "tags": Field("strings", doc="Tags every run this schedule starts carries (searchable)."),
    },
)

INTERVAL_PERIODS = ("microseconds", "seconds", "minutes", "hours", "days")

INTERVAL_SCHEDULE = Table(
    "an interval schedule",
    {
        "every": Field("number", required=True, gt=0, doc="How many periods between runs."),
        "period": Field("str", required=True, choices=INTERVAL_PERIODS, doc="Unit of 'every'."),
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

CRONTAB_SCHEDULE = Table("a crontab schedule", {
    key: Field("cron", default="*", doc=f"Crontab {name.replace('_', ' ')} field, e.g. '*/5', '1-5', 'mon-fri'.")
    for key, (name, _) in CRONTAB_FIELDS.items()
})

BATCH = Table(
    "a batches entry",
    {
        "pipeline": Field("str", required=True, doc="Pipeline id run for each chunk."),
        "generator": Field("mapping", required=True, doc="Where the keys come from (s3 or local)."),
        "chunkSize": Field("int", gt=0, default=100, doc="Keys per pipeline run."),
        "concurrency": Field("int", gt=0, default=4, doc="Pipeline runs of the batch in flight at once."),
        "payloadKey": Field("str", default="keys", doc="Payload key that holds a chunk's list of keys."),
    },
)

GENERATOR = Table(
    "a batch generator",
    {
        "type": Field("str", required=True, choices=("s3", "local"),
                      doc="Generator type: 's3' (needs bucket) or 'local' (needs path)."),
        "bucket": Field("str", doc="S3 bucket to list (s3)."),
        "prefix": Field("str", allow_empty=True, doc="Key prefix to list under."),
        "path": Field("str", doc="Directory to list (local)."),
        "include": Field("strings", doc="Glob pattern(s) a key must match."),
        "exclude": Field("strings", doc="Glob pattern(s) that drop a key."),
        "regex": Field("str", doc="Regular expression a key must match."),
        "minSize": Field("int", ge=0, doc="Smallest object size in bytes."),
        "maxSize": Field("int", ge=0, doc="Largest object size in bytes."),
        "modifiedSince": Field("timestamp", doc="Only objects modified at or after this ISO 8601 date/time."),
        "endpointUrl": Field("str", doc="S3-compatible endpoint URL (s3)."),
        "region": Field("str", doc="S3 region (s3)."),
        "recursive": Field("bool", doc="List sub-directories / nested prefixes too."),
        # accepted by pypeline.generators (skip .DS_Store, __pycache__ ...), so allowed here too
        "skipCommonHidden": Field("bool", doc="Skip hidden files and caches (.DS_Store, __pycache__, ...)."),
        "followSymlinks": Field("bool", doc="Local only: list file symlinks that resolve outside `path` "
                                            "(default false: skipped and logged)."),
    },
)

#: generator option keys that only make sense for one generator type (plus the key that type requires)
GENERATOR_KEYS_BY_TYPE: dict[str, tuple[frozenset[str], str]] = {
    "s3": (frozenset({"bucket", "endpointUrl", "region"}), "bucket"),
    "local": (frozenset({"path", "followSymlinks"}), "path"),
}

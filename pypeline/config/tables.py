"""Key tables of the services, pipelines and schedules of a config file (known keys, types, ignored sermos-3 keys)."""
from __future__ import annotations

from dataclasses import replace

from pypeline.config.fields import Field, Table

__all__ = [
    "HANDLER_PATTERN",
    "NAME_PATTERN",
    "MAX_EXPIRES_S",
    "MAX_RUN_TTL",
    "TOP",
    "SERVICE",
    "REGISTERED_TASK",
    "PIPELINE",
    "PIPELINE_CONFIG",
    "METADATA",
    "NOTIFY",
    "TASK_DEFINITION",
    "SCHEDULE",
    "SCHEDULE_CONFIG",
]

HANDLER_PATTERN = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$"
NAME_PATTERN = r"^[\w\-]+$"

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

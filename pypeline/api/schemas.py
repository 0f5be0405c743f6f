"""Marshmallow schemas of request bodies, query strings and responses (they also make the OpenAPI document)."""
from __future__ import annotations

from datetime import timezone

from marshmallow import INCLUDE, RAISE, Schema, fields, validate

from pypeline.config.schema import MAX_EXPIRES_S
from pypeline.status import Status

__all__ = [
    "ErrorSchema", "InvokeBodySchema", "InvokeResponseSchema", "ResultSchema", "PipelineNodeSchema",
    "PipelineSchema", "RunQuerySchema", "NodeRunSchema", "RunSchema", "RunDetailSchema", "RunPageSchema",
    "EventBodySchema", "EventSchema", "EventCreatedSchema", "HealthSchema", "ReadinessSchema",
    "ScheduleBodySchema", "ScheduleConfigBodySchema", "ScheduleSchema", "FireSchema", "FireQuerySchema",
    "BatchSchema", "BatchStartBodySchema", "BatchResumeBodySchema", "BatchRunSchema", "BatchRunPageSchema",
    "BatchRunQuerySchema", "ChunkSchema", "ChunkQuerySchema", "NotificationAttemptSchema", "LogQuerySchema",
    "LogChunkSchema", "LogPageSchema", "BackfillBodySchema", "BackfillSlotSchema", "BackfillSchema",
]

_STATUSES = [s.value for s in Status]
#: A run tag: letters, digits and `_ . : / = -`, 1-100 characters (pypeline.store.tags.TAG_PATTERN).
_TAG_RE = r"^[A-Za-z0-9_.:/=-]{1,100}$"
#: No control characters (NUL cannot even be stored by PostgreSQL).
_PRINTABLE = validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="must not contain control characters")


def _nullable_str(**kwargs: object) -> fields.String:
    return fields.String(allow_none=True, **kwargs)  # type: ignore[arg-type]


def _timestamp(nullable: bool = False) -> fields.String:
    return fields.String(allow_none=nullable, metadata={"format": "date-time", "description": "ISO 8601, UTC"})


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class ErrorSchema(Schema):
    """Every error body: a stable machine code and a human message."""

    code = fields.String(required=True, metadata={"description": "Stable error code, e.g. not_found"})
    message = fields.String(required=True)
    errors = fields.Raw(metadata={"description": "Field-level validation errors, when any"})


class InvokeBodySchema(_Strict):
    """Body of an invoke: the original's `chain_payload` (any JSON; checked against the pipeline's payloadSchema)."""

    chain_payload = fields.Raw(allow_none=True, load_default=None,
                               metadata={"description": "Payload handed to every node as event['chain_payload']"})
    tags = fields.List(fields.String(validate=validate.Regexp(_TAG_RE)), load_default=None, allow_none=True,
                       validate=validate.Length(max=20),
                       metadata={"description": "Labels of the run (searchable with GET /runs/?tag=)"})


class InvokeResponseSchema(Schema):
    """Answer of an accepted invoke (202)."""

    pipeline_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "'success' when the run was started (as the "
                                                                   "original)"})
    execution_id = fields.String(required=True, metadata={"description": "The run id (original name)"})
    run_id = fields.String(required=True)
    run_status = fields.String(required=True, validate=validate.OneOf(_STATUSES))


class ResultSchema(Schema):
    """The original's results document: 200 when the run finished, 202 while it is pending."""

    execution_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["pending", "success", "failed", "cancelled"]))
    run_status = fields.String(required=True, validate=validate.OneOf(_STATUSES))
    result = fields.Raw(allow_none=True, metadata={"description": "Results of the leaf nodes, keyed by node"})
    results = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True),
                          metadata={"description": "Result of every successful node, keyed by node"})
    result_ttl = fields.Integer(required=True)
    status_message = fields.String(required=True)


class PipelineNodeSchema(Schema):
    """One node of a pipeline."""

    name = fields.String(required=True)
    handler = fields.String(required=True)
    queue = fields.String(required=True)
    maxTtl = fields.Integer(required=True)
    maxRetry = fields.Integer(required=True)
    priority = fields.Integer(allow_none=True)
    upstream = fields.List(fields.String(), required=True)
    downstream = fields.List(fields.String(), required=True)


class PipelineSchema(Schema):
    """A declared pipeline: the original's fields (name, description, schemaVersion, config) plus its graph."""

    id = fields.String(required=True)
    name = fields.String(required=True)
    description = _nullable_str()
    schemaVersion = fields.Integer(required=True)
    engine = fields.String(required=True)
    queue = fields.String(required=True)
    payloadSchema = fields.Dict(allow_none=True)
    config = fields.Dict(required=True, metadata={"description": "The pipeline's config as declared"})
    nodes = fields.List(fields.Nested(PipelineNodeSchema), required=True)
    edges = fields.List(fields.List(fields.String()), required=True,
                        metadata={"description": "[parent, child] pairs"})
    levels = fields.List(fields.List(fields.String()), required=True,
                         metadata={"description": "Topological generations (level k: longest upstream path k)"})


class _PageQuery(_Strict):
    """Paging of a list: `limit` (1-500, default 50) and `offset`."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))


class RunQuerySchema(_PageQuery):
    """Filters and paging of the runs list."""

    pipeline_id = fields.String(validate=validate.Length(min=1, max=200))
    status = fields.String(validate=validate.OneOf(_STATUSES))
    origin = fields.String(validate=[validate.Length(min=1, max=200), _PRINTABLE],
                           metadata={"description": "Exact origin: cli, api, schedule:<id>, batch:<id>, ..."})
    tag = fields.List(fields.String(validate=validate.Regexp(_TAG_RE)), validate=validate.Length(max=20),
                      metadata={"description": "Repeatable; a run must carry every tag given"})
    created_after = fields.AwareDateTime(format="iso", default_timezone=timezone.utc,
                                         metadata={"description": "ISO 8601; runs created at or after"})
    created_before = fields.AwareDateTime(format="iso", default_timezone=timezone.utc,
                                          metadata={"description": "ISO 8601; runs created before"})
    # created_after < created_before is a cross-field rule: the service answers 400 (see docs/api.md, Errors).


class NodeRunSchema(Schema):
    """One node (or split instance) of a run, with timings, error and retries."""

    id = fields.Integer(required=True)
    run_id = fields.String(required=True)
    node = fields.String(required=True)
    instance = fields.String(required=True)
    handler = fields.String(required=True)
    queue = _nullable_str()
    status = fields.String(required=True, validate=validate.OneOf(_STATUSES))
    remaining = fields.Integer(required=True)
    task_id = _nullable_str()
    attempts = fields.Integer(required=True)
    retries = fields.Integer(required=True)
    result = fields.Raw(allow_none=True)
    result_summary = _nullable_str()
    error = _nullable_str()
    traceback = _nullable_str()
    created_at = _timestamp()
    started_at = _timestamp(nullable=True)
    finished_at = _timestamp(nullable=True)
    updated_at = _timestamp()
    duration = fields.Float(allow_none=True, metadata={"description": "Seconds from start to finish"})
    logs = fields.String(metadata={"description": "API path of the node's captured logs"})


class RunSchema(Schema):
    """A pipeline run."""

    id = fields.String(required=True)
    pipeline_id = fields.String(required=True)
    engine = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(_STATUSES))
    terminal = fields.Boolean(required=True)
    attempt = fields.Integer(required=True)
    payload = fields.Raw(allow_none=True)
    result = fields.Raw(allow_none=True)
    leaves = fields.List(fields.String(), allow_none=True)
    error = _nullable_str()
    failed_node = _nullable_str()
    nodes_total = fields.Integer(required=True)
    nodes_left = fields.Integer(required=True)
    origin = _nullable_str()
    tags = fields.List(fields.String())
    parent_run_id = _nullable_str()
    parent_node = _nullable_str()
    parent_instance = _nullable_str()
    created_at = _timestamp()
    started_at = _timestamp(nullable=True)
    finished_at = _timestamp(nullable=True)
    updated_at = _timestamp()


class ParentLinkSchema(Schema):
    """The run and node that started a run as a sub-pipeline (child run)."""

    run_id = fields.String(required=True)
    node = fields.String(required=True)
    instance = fields.String(required=True)


class ChildRunSchema(Schema):
    """A run started by one of this run's sub-pipeline nodes."""

    id = fields.String(required=True)
    pipeline_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(_STATUSES))
    node = fields.String(required=True)
    instance = fields.String(required=True)
    created_at = _timestamp()
    finished_at = _timestamp(nullable=True)


class NotificationAttemptSchema(Schema):
    """One delivery attempt of a run notification."""

    id = fields.Integer(required=True)
    run_id = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(["webhook", "handler"]))
    target = fields.String(required=True)
    event = fields.String(required=True)
    attempt = fields.Integer(required=True)
    ok = fields.Boolean(required=True)
    status_code = fields.Integer(allow_none=True)
    error = _nullable_str()
    created_at = _timestamp()


class RunDetailSchema(RunSchema):
    """A run with its node runs and notification attempts."""

    nodes = fields.List(fields.Nested(NodeRunSchema), required=True)
    notifications = fields.List(fields.Nested(NotificationAttemptSchema))
    parent = fields.Nested(ParentLinkSchema, allow_none=True,
                           metadata={"description": "Sub-pipelines: the run and node that started this run"})
    children = fields.List(fields.Nested(ChildRunSchema),
                           metadata={"description": "Sub-pipelines: runs started by this run's nodes"})


class LogQuerySchema(_Strict):
    """Which node's logs to read, and from which chunk on (`after`: the `next` of the previous answer)."""

    node = fields.String(validate=[validate.Length(min=1, max=200), _PRINTABLE])
    instance = fields.String(validate=[validate.Length(max=200), _PRINTABLE])
    attempt = fields.Integer(validate=validate.Range(min=1, max=1_000_000))
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))


class LogChunkSchema(Schema):
    """Captured output of one node attempt (possibly a part of it)."""

    node = fields.String(required=True)
    instance = fields.String(required=True)
    attempt = fields.Integer(required=True)
    text = fields.String(required=True)


class LogPageSchema(Schema):
    """Logs of a run's nodes, in capture order; poll again with `after=next` for more."""

    run_id = fields.String(required=True)
    items = fields.List(fields.Nested(LogChunkSchema), required=True)
    next = fields.Integer(required=True)
    terminal = fields.Boolean(required=True)


class RunPageSchema(Schema):
    """A page of runs, newest first."""

    items = fields.List(fields.Nested(RunSchema), required=True)
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)


class EventBodySchema(_Strict):
    """A custom event to record on a run."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    data = fields.Raw(allow_none=True, load_default=None)
    node = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=200))


class EventSchema(Schema):
    """An event recorded on a run."""

    id = fields.Integer(required=True)
    run_id = fields.String(required=True)
    node = _nullable_str()
    name = fields.String(required=True)
    data = fields.Raw(allow_none=True)
    created_at = _timestamp()


class EventCreatedSchema(Schema):
    """Id of a recorded event."""

    id = fields.Integer(required=True)
    run_id = fields.String(required=True)


class HealthSchema(Schema):
    """Liveness answer."""

    status = fields.String(required=True)
    version = fields.String(required=True)


class ReadinessSchema(Schema):
    """Readiness: each dependency's check."""

    status = fields.String(required=True, validate=validate.OneOf(["ready", "unavailable"]))
    checks = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True)


_NON_EMPTY = validate.Length(min=1, max=300)


class _Open(Schema):
    """Known fields are type-checked; other keys pass through to the service, which rejects unknown ones."""

    class Meta:
        unknown = INCLUDE


class ScheduleConfigBodySchema(_Open):
    """`config` of a scheduledTasks entry (the original's keys plus pipeline/timezone/payload)."""

    scheduleType = fields.String(validate=validate.OneOf(["interval", "crontab", "oneoff"]),
                                 metadata={"description": "Inferred from `schedule` when absent"})
    task = fields.String(validate=_NON_EMPTY,
                         metadata={"description": "A handler declared in config (exclusive with pipeline)"})
    pipeline = fields.String(validate=_NON_EMPTY,
                             metadata={"description": "A pipeline declared in config (exclusive with task)"})
    queue = fields.String(validate=_NON_EMPTY)
    exchange = fields.String(validate=_NON_EMPTY)
    routingKey = fields.String(validate=_NON_EMPTY)
    expires = fields.Integer(validate=validate.Range(min=1, max=MAX_EXPIRES_S))
    schedule = fields.Dict(metadata={"description": "crontab: minute/hour/dayOfWeek/dayOfMonth/monthOfYear; "
                                                    "interval: every/period; oneoff: at"})
    timezone = fields.String(validate=_NON_EMPTY, metadata={"description": "IANA name, e.g. Europe/Paris"})
    payload = fields.Dict()
    tags = fields.List(fields.String(validate=validate.Regexp(_TAG_RE)), validate=validate.Length(max=20),
                       metadata={"description": "Tags given to every run the schedule starts"})


class ScheduleBodySchema(_Open):
    """A schedule in the original's `scheduledTasks` entry shape (a flat shape is accepted too)."""

    id = fields.String(validate=validate.Length(min=1, max=200))
    name = fields.String(validate=validate.Length(min=1, max=200))
    schemaVersion = fields.Integer(validate=validate.OneOf([1]))
    enabled = fields.Boolean()
    config = fields.Nested(ScheduleConfigBodySchema)


class ScheduleSchema(Schema):
    """A stored schedule: the original's shape plus bookkeeping."""

    id = fields.String(required=True)
    name = fields.String(required=True)
    schemaVersion = fields.Integer(required=True)
    enabled = fields.Boolean(required=True)
    config = fields.Dict(required=True)
    source = _nullable_str()
    lastRunAt = _timestamp(nullable=True)
    totalRunCount = fields.Integer()
    nextRunAt = _timestamp(nullable=True)
    lastError = _nullable_str()
    apiFields = fields.List(fields.String())
    createdAt = _timestamp(nullable=True)
    updatedAt = _timestamp(nullable=True)


class FireSchema(Schema):
    """One logged fire of a schedule."""

    scheduleId = fields.String(required=True)
    dueAt = _timestamp(nullable=True)
    status = fields.String(required=True)
    sentAt = _timestamp(nullable=True)
    attempts = fields.Integer()
    messageId = _nullable_str()
    beat = _nullable_str()
    error = _nullable_str()


class BackfillBodySchema(_Strict):
    """Range of a backfill (both ends inclusive)."""

    from_ = fields.AwareDateTime(required=True, data_key="from", format="iso", default_timezone=timezone.utc,
                                 metadata={"description": "ISO 8601 start (UTC unless an offset is given)"})
    to = fields.AwareDateTime(required=True, format="iso", default_timezone=timezone.utc,
                              metadata={"description": "ISO 8601 end (UTC unless an offset is given)"})
    dry_run = fields.Boolean(load_default=False, metadata={"description": "Only list the slots"})
    # 'from' <= 'to' is a cross-field rule: the service answers 400 (see docs/api.md, Errors).


class BackfillSlotSchema(Schema):
    """One slot of a backfill and what happened to it."""

    slot = _timestamp()
    run_id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(["started", "existing", "planned"]))


class BackfillSchema(Schema):
    """Result of a backfill."""

    schedule = fields.String(required=True)
    pipeline = fields.String(required=True)
    dry_run = fields.Boolean(required=True)
    slots = fields.List(fields.Nested(BackfillSlotSchema), required=True)
    started = fields.Integer(required=True)
    existing = fields.Integer(required=True)
    planned = fields.Integer(required=True)


class FireQuerySchema(_Strict):
    """How many fires to list."""

    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=500))


class BatchSchema(Schema):
    """A `batches` entry declared in config."""

    id = fields.String(required=True)
    pipeline = fields.String(required=True)
    generator = fields.Dict(required=True, metadata={"description": "{type, options}"})
    chunkSize = fields.Integer(required=True)
    concurrency = fields.Integer(required=True)
    payloadKey = fields.String(required=True)


class BatchStartBodySchema(_Strict):
    """Options of a batch start."""

    overrides = fields.Dict(load_default=None, allow_none=True,
                            metadata={"description": "chunkSize, concurrency, payloadKey, payload, generator filters"})
    batch_run_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64),
                                 metadata={"description": "Idempotency: starting the same id twice starts once"})


class BatchResumeBodySchema(_Strict):
    """Options of a batch resume."""

    retry_failed = fields.Boolean(load_default=False,
                                  metadata={"description": "Also re-run failed nodes of failed chunk runs"})


class BatchRunSchema(Schema):
    """A batch run with its progress."""

    id = fields.String(required=True)
    batch_id = _nullable_str()
    pipeline_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(_STATUSES))
    terminal = fields.Boolean(required=True)
    generator = fields.Dict(required=True)
    chunk_size = fields.Integer(required=True)
    concurrency = fields.Integer(required=True)
    payload_key = fields.String(required=True)
    payload = fields.Raw(allow_none=True)
    cursor = _nullable_str()
    keys_listed = fields.Integer(required=True)
    chunks_created = fields.Integer(required=True)
    listing_done = fields.Boolean(required=True)
    driver = fields.String(allow_none=True, validate=validate.OneOf(["worker", "local"]))
    error = _nullable_str()
    origin = _nullable_str()
    created_at = _timestamp()
    started_at = _timestamp(nullable=True)
    finished_at = _timestamp(nullable=True)
    updated_at = _timestamp()
    chunks_dispatched = fields.Integer(required=True)
    chunks_unstarted = fields.Integer(required=True)
    chunks_running = fields.Integer(required=True)
    chunks_succeeded = fields.Integer(required=True)
    chunks_failed = fields.Integer(required=True)
    chunks_cancelled = fields.Integer(required=True)


class BatchRunPageSchema(Schema):
    """A page of batch runs, newest first."""

    items = fields.List(fields.Nested(BatchRunSchema), required=True)
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)


class BatchRunQuerySchema(_PageQuery):
    """Filters and paging of the batch runs list."""

    batch_id = fields.String(validate=validate.Length(min=1, max=200))
    status = fields.String(validate=validate.OneOf(_STATUSES))


class ChunkSchema(Schema):
    """One chunk of a batch run and its pipeline run."""

    chunk = fields.Integer(required=True)
    run_id = fields.String(required=True)
    key_count = fields.Integer(required=True)
    first_key = _nullable_str()
    last_key = _nullable_str()
    status = fields.String(required=True, validate=validate.OneOf([*_STATUSES, "UNSTARTED"]))
    error = _nullable_str()
    created_at = _timestamp(nullable=True)
    finished_at = _timestamp(nullable=True)


class ChunkQuerySchema(_Strict):
    """Paging of a batch run's chunks."""

    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))


class ConfigValidateBodySchema(_Strict):
    """Config text to check (the dashboard's live preview); capped at PYPELINE_MAX_PAYLOAD_BYTES."""

    text = fields.String(required=True, metadata={"description": "The YAML text of a sermos.yaml / pypeline.yaml"})


class ConfigIssueSchema(Schema):
    """One config problem, as `pypeline validate --format json` prints it."""

    file = fields.String(required=True)
    line = fields.Integer(allow_none=True, metadata={"description": "1-based; null for file-level problems"})
    column = fields.Integer(allow_none=True, metadata={"description": "1-based"})
    key_path = fields.String(required=True, metadata={"description": "Dotted key path, e.g. pipelines.p.name"})
    code = fields.String(required=True, metadata={"description": "Stable error code (docs/config-errors.md)"})
    name = fields.String(required=True, metadata={"description": "Short name of the code, e.g. unknown-key"})
    message = fields.String(required=True)
    suggestion = _nullable_str(metadata={"description": "The key or value probably meant, when one is close"})


class ConfigGraphSchema(Schema):
    """A pipeline of the checked text: its DAG, and the geometry the dashboard draws it with."""

    id = fields.String(required=True)
    name = fields.String(required=True)
    nodes = fields.List(fields.String(), required=True)
    handlers = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                           metadata={"description": "node name -> handler path (not imported)"})
    edges = fields.List(fields.List(fields.String()), required=True)
    levels = fields.List(fields.List(fields.String()), required=True)
    layout = fields.Dict(required=True, metadata={"description": "width, height, boxes {name, label, x, y, w, h} "
                                                                 "and edges {source, target, d (SVG path)}"})


class ConfigValidateSchema(Schema):
    """The outcome of checking config text: every issue and the DAG of every pipeline that validated."""

    valid = fields.Boolean(required=True)
    errors = fields.List(fields.Nested(ConfigIssueSchema), required=True)
    pipelines = fields.List(fields.Nested(ConfigGraphSchema), required=True)

"""Marshmallow schemas of request bodies, query strings and responses (they also make the OpenAPI document)."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from pypeline.status import Status

__all__ = [
    "ErrorSchema", "InvokeBodySchema", "InvokeResponseSchema", "ResultSchema", "PipelineNodeSchema",
    "PipelineSchema", "RunQuerySchema", "NodeRunSchema", "RunSchema", "RunDetailSchema", "RunPageSchema",
    "EventBodySchema", "EventSchema", "EventCreatedSchema", "HealthSchema", "ReadinessSchema",
]

_STATUSES = [s.value for s in Status]


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


class RunQuerySchema(_Strict):
    """Filters and paging of the runs list."""

    pipeline_id = fields.String(validate=validate.Length(min=1, max=200))
    status = fields.String(validate=validate.OneOf(_STATUSES))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))


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
    created_at = _timestamp()
    started_at = _timestamp(nullable=True)
    finished_at = _timestamp(nullable=True)
    updated_at = _timestamp()


class RunDetailSchema(RunSchema):
    """A run with its node runs."""

    nodes = fields.List(fields.Nested(NodeRunSchema), required=True)


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

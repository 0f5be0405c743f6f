"""Schemas of runs: list filters, run and node documents, events, logs, notification attempts."""
from __future__ import annotations

from datetime import timezone

from marshmallow import Schema, fields, validate

from pypeline.api.schemas.common import (
    PRINTABLE,
    STATUSES,
    TAG_RE,
    PageQuery,
    Strict,
    nullable_str,
    page_of,
    timestamp_field,
)

__all__ = [
    "RunQuerySchema", "NodeRunSchema", "RunSchema", "NotificationAttemptSchema", "RunDetailSchema",
    "ParentLinkSchema", "ChildRunSchema",
    "LogQuerySchema", "LogChunkSchema", "LogPageSchema", "RunPageSchema", "EventBodySchema", "EventSchema",
    "EventCreatedSchema",
]


class RunQuerySchema(PageQuery):
    """Filters and paging of the runs list."""

    pipeline_id = fields.String(validate=validate.Length(min=1, max=200))
    status = fields.String(validate=validate.OneOf(STATUSES))
    origin = fields.String(validate=[validate.Length(min=1, max=200), PRINTABLE],
                           metadata={"description": "Exact origin: cli, api, schedule:<id>, batch:<id>, ..."})
    tag = fields.List(fields.String(validate=validate.Regexp(TAG_RE)), validate=validate.Length(max=20),
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
    queue = nullable_str()
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    remaining = fields.Integer(required=True)
    task_id = nullable_str()
    attempts = fields.Integer(required=True)
    retries = fields.Integer(required=True)
    result = fields.Raw(allow_none=True)
    result_summary = nullable_str()
    error = nullable_str()
    traceback = nullable_str()
    created_at = timestamp_field()
    started_at = timestamp_field(nullable=True)
    finished_at = timestamp_field(nullable=True)
    updated_at = timestamp_field()
    duration = fields.Float(allow_none=True, metadata={"description": "Seconds from start to finish"})
    logs = fields.String(metadata={"description": "API path of the node's captured logs"})


class RunSchema(Schema):
    """A pipeline run."""

    id = fields.String(required=True)
    pipeline_id = fields.String(required=True)
    engine = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    terminal = fields.Boolean(required=True)
    attempt = fields.Integer(required=True)
    payload = fields.Raw(allow_none=True)
    result = fields.Raw(allow_none=True)
    leaves = fields.List(fields.String(), allow_none=True)
    error = nullable_str()
    failed_node = nullable_str()
    nodes_total = fields.Integer(required=True)
    nodes_left = fields.Integer(required=True)
    origin = nullable_str()
    tags = fields.List(fields.String())
    parent_run_id = nullable_str()
    parent_node = nullable_str()
    parent_instance = nullable_str()
    created_at = timestamp_field()
    started_at = timestamp_field(nullable=True)
    finished_at = timestamp_field(nullable=True)
    updated_at = timestamp_field()


class ParentLinkSchema(Schema):
    """The run and node that started a run as a sub-pipeline (child run)."""

    run_id = fields.String(required=True)
    node = fields.String(required=True)
    instance = fields.String(required=True)


class ChildRunSchema(Schema):
    """A run started by one of this run's sub-pipeline nodes."""

    id = fields.String(required=True)
    pipeline_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    node = fields.String(required=True)
    instance = fields.String(required=True)
    created_at = timestamp_field()
    finished_at = timestamp_field(nullable=True)


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
    error = nullable_str()
    created_at = timestamp_field()


class RunDetailSchema(RunSchema):
    """A run with its node runs and notification attempts."""

    nodes = fields.List(fields.Nested(NodeRunSchema), required=True)
    notifications = fields.List(fields.Nested(NotificationAttemptSchema))
    parent = fields.Nested(ParentLinkSchema, allow_none=True,
                           metadata={"description": "Sub-pipelines: the run and node that started this run"})
    children = fields.List(fields.Nested(ChildRunSchema),
                           metadata={"description": "Sub-pipelines: runs started by this run's nodes"})


class LogQuerySchema(Strict):
    """Which node's logs to read, and from which chunk on (`after`: the `next` of the previous answer)."""

    node = fields.String(validate=[validate.Length(min=1, max=200), PRINTABLE])
    instance = fields.String(validate=[validate.Length(max=200), PRINTABLE])
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


RunPageSchema = page_of(RunSchema, "RunPageSchema", "A page of runs, newest first.")


class EventBodySchema(Strict):
    """A custom event to record on a run."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    data = fields.Raw(allow_none=True, load_default=None)
    node = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=200))


class EventSchema(Schema):
    """An event recorded on a run."""

    id = fields.Integer(required=True)
    run_id = fields.String(required=True)
    node = nullable_str()
    name = fields.String(required=True)
    data = fields.Raw(allow_none=True)
    created_at = timestamp_field()


class EventCreatedSchema(Schema):
    """Id of a recorded event."""

    id = fields.Integer(required=True)
    run_id = fields.String(required=True)

"""Schemas of schedules: bodies, documents, fires and backfills."""
from __future__ import annotations

from datetime import timezone

from marshmallow import INCLUDE, Schema, fields, validate

from pypeline.api.schemas.common import (
    TAG_RE,
    Strict,
    nullable_str,
    timestamp_field,
)
from pypeline.config.schema import MAX_EXPIRES_S

__all__ = [
    "ScheduleConfigBodySchema", "ScheduleBodySchema", "ScheduleSchema", "FireSchema", "BackfillBodySchema",
    "BackfillSlotSchema", "BackfillSchema", "FireQuerySchema",
]


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
    tags = fields.List(fields.String(validate=validate.Regexp(TAG_RE)), validate=validate.Length(max=20),
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
    source = nullable_str()
    lastRunAt = timestamp_field(nullable=True)
    totalRunCount = fields.Integer()
    nextRunAt = timestamp_field(nullable=True)
    lastError = nullable_str()
    apiFields = fields.List(fields.String())
    createdAt = timestamp_field(nullable=True)
    updatedAt = timestamp_field(nullable=True)


class FireSchema(Schema):
    """One logged fire of a schedule."""

    scheduleId = fields.String(required=True)
    dueAt = timestamp_field(nullable=True)
    status = fields.String(required=True)
    sentAt = timestamp_field(nullable=True)
    attempts = fields.Integer()
    messageId = nullable_str()
    beat = nullable_str()
    error = nullable_str()


class BackfillBodySchema(Strict):
    """Range of a backfill (both ends inclusive)."""

    from_ = fields.AwareDateTime(required=True, data_key="from", format="iso", default_timezone=timezone.utc,
                                 metadata={"description": "ISO 8601 start (UTC unless an offset is given)"})
    to = fields.AwareDateTime(required=True, format="iso", default_timezone=timezone.utc,
                              metadata={"description": "ISO 8601 end (UTC unless an offset is given)"})
    dry_run = fields.Boolean(load_default=False, metadata={"description": "Only list the slots"})
    # 'from' <= 'to' is a cross-field rule: the service answers 400 (see docs/api.md, Errors).


class BackfillSlotSchema(Schema):
    """One slot of a backfill and what happened to it."""

    slot = timestamp_field()
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


class FireQuerySchema(Strict):
    """How many fires to list."""

    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=500))

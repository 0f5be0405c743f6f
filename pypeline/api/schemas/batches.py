"""Schemas of batches: declared batches, start/resume bodies, batch runs and chunks."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from pypeline.api.schemas.common import (
    STATUSES,
    PageQuery,
    Strict,
    nullable_str,
    page_of,
    timestamp_field,
)

__all__ = [
    "BatchSchema", "BatchStartBodySchema", "BatchResumeBodySchema", "BatchRunSchema", "BatchRunPageSchema",
    "BatchRunQuerySchema", "ChunkSchema", "ChunkQuerySchema",
]


class BatchSchema(Schema):
    """A `batches` entry declared in config."""

    id = fields.String(required=True)
    pipeline = fields.String(required=True)
    generator = fields.Dict(required=True, metadata={"description": "{type, options}"})
    chunkSize = fields.Integer(required=True)
    concurrency = fields.Integer(required=True)
    payloadKey = fields.String(required=True)


class BatchStartBodySchema(Strict):
    """Options of a batch start."""

    overrides = fields.Dict(load_default=None, allow_none=True,
                            metadata={"description": "chunkSize, concurrency, payloadKey, payload, generator filters"})
    batch_run_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64),
                                 metadata={"description": "Idempotency: starting the same id twice starts once"})


class BatchResumeBodySchema(Strict):
    """Options of a batch resume."""

    retry_failed = fields.Boolean(load_default=False,
                                  metadata={"description": "Also re-run failed nodes of failed chunk runs"})


class BatchRunSchema(Schema):
    """A batch run with its progress."""

    id = fields.String(required=True)
    batch_id = nullable_str()
    pipeline_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    terminal = fields.Boolean(required=True)
    generator = fields.Dict(required=True)
    chunk_size = fields.Integer(required=True)
    concurrency = fields.Integer(required=True)
    payload_key = fields.String(required=True)
    payload = fields.Raw(allow_none=True)
    cursor = nullable_str()
    keys_listed = fields.Integer(required=True)
    chunks_created = fields.Integer(required=True)
    listing_done = fields.Boolean(required=True)
    driver = fields.String(allow_none=True, validate=validate.OneOf(["worker", "local"]))
    error = nullable_str()
    origin = nullable_str()
    created_at = timestamp_field()
    started_at = timestamp_field(nullable=True)
    finished_at = timestamp_field(nullable=True)
    updated_at = timestamp_field()
    chunks_dispatched = fields.Integer(required=True)
    chunks_unstarted = fields.Integer(required=True)
    chunks_running = fields.Integer(required=True)
    chunks_succeeded = fields.Integer(required=True)
    chunks_failed = fields.Integer(required=True)
    chunks_cancelled = fields.Integer(required=True)


BatchRunPageSchema = page_of(BatchRunSchema, "BatchRunPageSchema", "A page of batch runs, newest first.")


class BatchRunQuerySchema(PageQuery):
    """Filters and paging of the batch runs list."""

    batch_id = fields.String(validate=validate.Length(min=1, max=200))
    status = fields.String(validate=validate.OneOf(STATUSES))


class ChunkSchema(Schema):
    """One chunk of a batch run and its pipeline run."""

    chunk = fields.Integer(required=True)
    run_id = fields.String(required=True)
    key_count = fields.Integer(required=True)
    first_key = nullable_str()
    last_key = nullable_str()
    status = fields.String(required=True, validate=validate.OneOf([*STATUSES, "UNSTARTED"]))
    error = nullable_str()
    created_at = timestamp_field(nullable=True)
    finished_at = timestamp_field(nullable=True)


class ChunkQuerySchema(PageQuery):
    """Paging of a batch run's chunks."""

    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))

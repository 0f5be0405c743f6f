"""Batches: declared batches, start (202, a worker drives it), batch runs with progress, chunks, stop, resume."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pypeline.api.blueprint import ApiBlueprint
from pypeline.api.schemas import (
    BatchResumeBodySchema,
    BatchRunPageSchema,
    BatchRunQuerySchema,
    BatchRunSchema,
    BatchSchema,
    BatchStartBodySchema,
    ChunkQuerySchema,
    ChunkSchema,
)
from pypeline.http.context import runtime
from pypeline.services import batches as batch_service

__all__ = ["blp"]

blp = ApiBlueprint("batches", __name__, url_prefix="",
                   description="Batches: a key generator feeding a pipeline in chunks, resumable.")


@blp.route("/batches/", methods=["GET"], strict_slashes=False)
@blp.response(200, BatchSchema(many=True))
def list_batches() -> list[dict[str, Any]]:
    """The batches declared in config."""
    return [{"id": b.id, "pipeline": b.pipeline, "generator": {"type": b.generator.type,
                                                               "options": _jsonable(b.generator.options)},
             "chunkSize": b.chunk_size, "concurrency": b.concurrency, "payloadKey": b.payload_key}
            for b in runtime().config.batches.values()]


def _jsonable(options: dict[str, Any]) -> dict[str, Any]:
    """Generator options with timestamps (modifiedSince) as ISO 8601 strings."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in options.items()}


@blp.route("/batches/<string:batch_id>/start", methods=["POST"])
@blp.arguments(BatchStartBodySchema, required=False)
@blp.response(202, BatchRunSchema)
@blp.alt_response(400, description="Bad overrides, or the source cannot be listed")
@blp.alt_response(404, description="Unknown batch")
def start_batch(body: dict[str, Any], batch_id: str) -> dict[str, Any]:
    """Start a declared batch; a worker drives it (answers 202 with the batch run)."""
    return batch_service.start_batch(runtime(), batch_id, overrides=body.get("overrides"), origin="api",
                                     batch_run_id=body.get("batch_run_id"))


@blp.route("/batch-runs/", methods=["GET"], strict_slashes=False)
@blp.arguments(BatchRunQuerySchema, location="query")
@blp.response(200, BatchRunPageSchema)
def list_batch_runs(query: dict[str, Any]) -> dict[str, Any]:
    """Batch runs, newest first, with their progress."""
    items, total = batch_service.list_batch_runs(runtime(), query["limit"], query["offset"],
                                                 batch_id=query.get("batch_id"), status=query.get("status"))
    return {"items": items, "total": total, "limit": query["limit"], "offset": query["offset"]}


@blp.route("/batch-runs/<string:batch_run_id>", methods=["GET"])
@blp.response(200, BatchRunSchema)
@blp.alt_response(404, description="Unknown batch run")
def batch_status(batch_run_id: str) -> dict[str, Any]:
    """A batch run: keys listed, chunks dispatched, running, succeeded and failed."""
    return batch_service.batch_status(runtime(), batch_run_id)


@blp.route("/batch-runs/<string:batch_run_id>/chunks", methods=["GET"])
@blp.arguments(ChunkQuerySchema, location="query")
@blp.response(200, ChunkSchema(many=True))
@blp.alt_response(404, description="Unknown batch run")
def batch_chunks(query: dict[str, Any], batch_run_id: str) -> list[dict[str, Any]]:
    """The chunks of a batch run, in order, each with its pipeline run's status."""
    return batch_service.batch_chunks(runtime(), batch_run_id, limit=query["limit"], offset=query["offset"])


@blp.route("/batch-runs/<string:batch_run_id>/stop", methods=["POST"])
@blp.response(200, BatchRunSchema)
@blp.alt_response(404, description="Unknown batch run")
@blp.alt_response(409, description="Not running")
def stop_batch(batch_run_id: str) -> dict[str, Any]:
    """Stop dispatching new chunks (PAUSED); chunk runs already started finish."""
    return batch_service.stop_batch(runtime(), batch_run_id)


@blp.route("/batch-runs/<string:batch_run_id>/resume", methods=["POST"])
@blp.arguments(BatchResumeBodySchema, required=False)
@blp.response(202, BatchRunSchema)
@blp.alt_response(404, description="Unknown batch run")
@blp.alt_response(409, description="Cannot be resumed from its status")
def resume_batch(body: dict[str, Any], batch_run_id: str) -> dict[str, Any]:
    """Continue a stopped, failed or orphaned batch run from its cursor (a worker drives it)."""
    return batch_service.resume_batch(runtime(), batch_run_id, retry_failed=body.get("retry_failed", False))

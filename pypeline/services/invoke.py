"""Invoke a declared pipeline: validate the payload, then start a run on the pipeline's engine."""
from __future__ import annotations

import json
import uuid
from typing import Any

import jsonschema

from pypeline.config.model import PipelineConfig
from pypeline.errors import InvalidInputError
from pypeline.runtime import Runtime

__all__ = ["invoke", "validate_payload"]


def validate_payload(runtime: Runtime, pipeline: PipelineConfig, payload: Any) -> None:
    """Reject a payload that is not JSON, too large, or not matching the pipeline's payloadSchema."""
    try:
        size = len(json.dumps(payload).encode())
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"payload is not JSON-serialisable: {exc}") from exc
    limit = runtime.settings.max_payload_bytes
    if size > limit:
        raise InvalidInputError(f"payload is {size} bytes, over the {limit}-byte limit")
    if pipeline.payload_schema is not None:
        validator_cls = jsonschema.validators.validator_for(pipeline.payload_schema)
        errors = sorted(validator_cls(pipeline.payload_schema).iter_errors(payload), key=lambda e: list(e.path))
        if errors:
            details = "; ".join(f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:10])
            raise InvalidInputError(f"payload does not match pipeline {pipeline.id!r} payloadSchema: {details}")


def invoke(
    runtime: Runtime,
    pipeline_id: str,
    payload: Any = None,
    *,
    origin: str | None = None,
    run_id: str | None = None,
) -> str:
    """Start a run of a pipeline declared in config; returns the run id (the original's execution_id)."""
    pipeline = runtime.config.pipeline(pipeline_id)
    payload = {} if payload is None else payload
    validate_payload(runtime, pipeline, payload)
    return runtime.engine_for(pipeline).start(pipeline, payload, run_id=run_id or str(uuid.uuid4()), origin=origin)

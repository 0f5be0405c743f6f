"""Checks on an invocation payload before a run is created: JSON, size limit, the pipeline's payloadSchema."""
from __future__ import annotations

from typing import Any

from pypeline.config.model import PipelineConfig
from pypeline.errors import InvalidInputError, NodeResultError
from pypeline.formats import check_json_size

__all__ = ["validate_payload", "check_result"]


def validate_payload(pipeline: PipelineConfig, payload: Any, max_bytes: int) -> None:
    """Reject a payload that is not JSON, too large, or not matching the pipeline's payloadSchema."""
    check_json_size(payload, max_bytes, what="payload")
    if pipeline.payload_schema is not None:
        import jsonschema  # only pipelines with a payloadSchema pay for it

        validator_cls = jsonschema.validators.validator_for(pipeline.payload_schema)
        errors = sorted(validator_cls(pipeline.payload_schema).iter_errors(payload), key=lambda e: list(e.path))
        if errors:
            details = "; ".join(f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:10])
            raise InvalidInputError(f"payload does not match pipeline {pipeline.id!r} payloadSchema: {details}")


def check_result(result: Any, max_bytes: int) -> None:
    """Fail a node whose result is not strict JSON (no NaN/Infinity) or over `max_bytes` of JSON."""
    check_json_size(result, max_bytes, what="node result", error=NodeResultError, allow_nan=False)

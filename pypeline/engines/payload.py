"""Checks on an invocation payload before a run is created: JSON, size limit, the pipeline's payloadSchema."""
from __future__ import annotations

import json
from typing import Any

from pypeline.config.model import PipelineConfig
from pypeline.errors import InvalidInputError, NodeResultError

__all__ = ["validate_payload", "check_result"]


def validate_payload(pipeline: PipelineConfig, payload: Any, max_bytes: int) -> None:
    """Reject a payload that is not JSON, too large, or not matching the pipeline's payloadSchema."""
    try:
        size = len(json.dumps(payload).encode())
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"payload is not JSON-serialisable: {exc}") from exc
    if size > max_bytes:
        raise InvalidInputError(f"payload is {size} bytes, over the {max_bytes}-byte limit")
    if pipeline.payload_schema is not None:
        import jsonschema  # only pipelines with a payloadSchema pay for it

        validator_cls = jsonschema.validators.validator_for(pipeline.payload_schema)
        errors = sorted(validator_cls(pipeline.payload_schema).iter_errors(payload), key=lambda e: list(e.path))
        if errors:
            details = "; ".join(f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:10])
            raise InvalidInputError(f"payload does not match pipeline {pipeline.id!r} payloadSchema: {details}")


def check_result(result: Any, max_bytes: int) -> None:
    """Fail a node whose result is not strict JSON (no NaN/Infinity) or over `max_bytes` of JSON."""
    try:
        size = len(json.dumps(result, allow_nan=False))
    except (TypeError, ValueError) as exc:
        detail = "NaN and Infinity are not JSON" if "Out of range float" in str(exc) else str(exc)
        raise NodeResultError(f"node result is not JSON-serialisable: {detail}") from exc
    if size > max_bytes:
        raise NodeResultError(f"node result is {size} bytes of JSON, over the {max_bytes}-byte limit")

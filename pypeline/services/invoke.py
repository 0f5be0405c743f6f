"""Invoke a declared pipeline: validate the payload, then start a run on the pipeline's engine."""
from __future__ import annotations

from typing import Any

from pypeline.runtime import Runtime

__all__ = ["invoke"]


def invoke(
    runtime: Runtime,
    pipeline_id: str,
    payload: Any = None,
    *,
    origin: str | None = None,
    run_id: str | None = None,
) -> str:
    """Start a run of a pipeline declared in config; returns the run id (the original's execution_id)."""
    return runtime.start_run(pipeline_id, payload, origin=origin, run_id=run_id)

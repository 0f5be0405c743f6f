"""Invoke a declared pipeline: validate the payload, then start a run on the pipeline's engine."""
from __future__ import annotations

from collections.abc import Sequence
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
    tags: Sequence[str] | None = None,
) -> str:
    """Start a run of a pipeline declared in config; returns the run id (the original's execution_id).

    Under the pipeline's `maxActiveRuns` the run may be QUEUED or SKIPPED instead of started, or refused
    with ConcurrencyLimitError (`onLimit: fail`).
    """
    return runtime.start_run(pipeline_id, payload, origin=origin, run_id=run_id, tags=tags)

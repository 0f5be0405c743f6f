"""The original's built-in tasks, registered on workers of apps set up with `configure_celery`."""
from __future__ import annotations

from typing import Any

from pypeline.compat.runs import PipelineResult
from pypeline.tasks.shared import shared_task

__all__ = ["task_chain_regulator", "pipeline_success"]


@shared_task(name="pypeline.celery.task_chain_regulator")
def task_chain_regulator(*args: Any, **kwargs: Any) -> bool:
    """The original's chord separator for hand-built canvases; does nothing and returns True."""
    return True


@shared_task(name="pypeline.celery.pipeline_success")
def pipeline_success(event: dict[str, Any]) -> None:
    """Record `success` as the result of the run `event['execution_id']` (hand-built canvases)."""
    result = PipelineResult(event["execution_id"])
    result.load()
    result.save(status="success")

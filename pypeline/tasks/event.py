"""The `event` dict a node handler receives: the original's keys plus payload and upstream results."""
from __future__ import annotations

from typing import Any

__all__ = ["node_event"]


def node_event(
    *,
    pipeline_id: str,
    run_id: str,
    task_id: str | None,
    node: str,
    attempt: int,
    chain_payload: Any,
    upstream: dict[str, Any],
    instance: str = "",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a node's event; `execution_id` is the run id, as in the original."""
    event: dict[str, Any] = dict(extra or {})
    event.update(
        pipeline_id=pipeline_id,
        execution_id=run_id,
        run_id=run_id,
        task_id=task_id,
        node=node,
        attempt=attempt,
        chain_payload=chain_payload,
        upstream=upstream,
    )
    if instance:
        event["instance"] = instance
    return event

"""Per-node state of a run for display: one entry per DAG node, split instances folded in."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pypeline.status import Status

__all__ = ["node_states", "STATUS_ORDER"]

#: When a node only exists as split instances, the "worst" instance status represents it.
STATUS_ORDER = [Status.FAILED, Status.RUNNING, Status.RETRYING, Status.QUEUED, Status.PENDING, Status.CANCELLED,
                Status.SKIPPED, Status.SUCCESS]


def node_states(node_runs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """node -> {status, attempts, retries, duration, started_at, finished_at, error, instances, done}."""
    plain: dict[str, dict[str, Any]] = {}
    instances: dict[str, list[dict[str, Any]]] = {}
    for row in node_runs:
        if row["instance"]:
            instances.setdefault(row["node"], []).append(row)
        else:
            plain[row["node"]] = row
    out: dict[str, dict[str, Any]] = {}
    for name in {*plain, *instances}:
        inst = instances.get(name, [])
        base = plain.get(name)
        if base is None:
            base = min(inst, key=lambda r: STATUS_ORDER.index(Status(r["status"])))
        out[name] = {
            "status": base["status"],
            "attempts": base["attempts"],
            "retries": base["retries"],
            "duration": base["duration"],
            "started_at": base["started_at"],
            "finished_at": base["finished_at"],
            "error": base["error"],
            "instances": len(inst),
            "done": sum(1 for r in inst if r["status"] == Status.SUCCESS.value),
        }
    return out

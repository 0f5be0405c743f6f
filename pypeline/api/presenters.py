"""The original's results answer (200 finished / 202 pending) for a run record."""
from __future__ import annotations

from typing import Any

from pypeline.runtime import Runtime
from pypeline.status import Status

__all__ = ["result_document", "RESULT_STATUS"]

#: The original's lowercase result status per run status (anything else is "pending").
#: A run SKIPPED by `maxActiveRuns` (`onLimit: skip`) never ran: "cancelled" in the original's vocabulary.
RESULT_STATUS = {Status.SUCCESS: "success", Status.FAILED: "failed", Status.CANCELLED: "cancelled",
                 Status.SKIPPED: "cancelled"}


def result_document(rt: Runtime, run: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The original's results answer for a run record with nodes: (body, 200 finished / 202 pending)."""
    status = Status(run["status"])
    label = RESULT_STATUS.get(status, "pending")
    finished = label != "pending"
    results = {n["node"] + (f"[{n['instance']}]" if n["instance"] else ""): n["result"]
               for n in run.get("nodes", []) if n["status"] == Status.SUCCESS.value}
    messages = {"pending": "Results pending. Check again soon.", "success": "Pipeline finished successfully.",
                "failed": f"Pipeline failed at node {run.get('failed_node')!r}: {run.get('error')}",
                "cancelled": f"Pipeline run was skipped: {run.get('error')}" if status is Status.SKIPPED
                else "Pipeline was cancelled."}
    body = {
        "execution_id": run["id"],
        "status": label,
        "run_status": status.value,
        "result": run.get("result") if finished else None,
        "results": results,
        "result_ttl": rt.settings.result_expires,
        "status_message": messages[label],
    }
    return body, 200 if finished else 202

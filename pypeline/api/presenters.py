"""Turn config objects and run records into the JSON documents the API and the dashboard show."""
from __future__ import annotations

from typing import Any

from pypeline.runtime import Runtime
from pypeline.status import Status

__all__ = ["pipeline_document", "pipeline_documents", "result_document", "RESULT_STATUS"]

#: The original's lowercase result status per run status (anything else is "pending").
#: A run SKIPPED by `maxActiveRuns` (`onLimit: skip`) never ran: "cancelled" in the original's vocabulary.
RESULT_STATUS = {Status.SUCCESS: "success", Status.FAILED: "failed", Status.CANCELLED: "cancelled",
                 Status.SKIPPED: "cancelled"}


def pipeline_document(rt: Runtime, pipeline_id: str) -> dict[str, Any]:
    """A declared pipeline with its nodes, edges and levels (NotFoundError if undeclared)."""
    pipeline = rt.config.pipeline(pipeline_id)
    dag = rt.dag(pipeline_id)
    nodes = []
    for name in dag.nodes:
        node = dag.node(name)
        nodes.append({"name": name, "handler": node.handler, "queue": node.queue, "maxTtl": node.max_ttl,
                      "maxRetry": node.retry.max_retry, "priority": node.priority,
                      "upstream": list(dag.predecessors(name)), "downstream": list(dag.successors(name))})
    edges = [[name, child] for name in dag.nodes for child in dag.successors(name)]
    return {
        "id": pipeline.id,
        "name": pipeline.name,
        "description": pipeline.description,
        "schemaVersion": pipeline.schema_version,
        "engine": pipeline.engine,
        "queue": pipeline.queue,
        "payloadSchema": pipeline.payload_schema,
        "config": dict(pipeline.raw.get("config") or {}),
        "nodes": nodes,
        "edges": edges,
        "levels": [list(level) for level in dag.levels],
    }


def pipeline_documents(rt: Runtime) -> list[dict[str, Any]]:
    """Every declared pipeline, in declaration order."""
    return [pipeline_document(rt, pid) for pid in rt.config.pipelines]


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

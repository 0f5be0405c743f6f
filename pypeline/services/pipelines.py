"""Declared pipelines as documents (nodes, edges, levels) for both faces and the CLI."""
from __future__ import annotations

from typing import Any

from pypeline.runtime import Runtime

__all__ = ["pipeline_document", "pipeline_documents"]


def pipeline_document(rt: Runtime, pipeline_id: str) -> dict[str, Any]:
    """A declared pipeline with its nodes, edges and levels (NotFoundError if undeclared).

    A node's `handler` is the task its messages run (the built-in one for a sub-pipeline node); `kind`,
    `pipeline` (the id a sub-pipeline node starts) and `runs` (what to show people) say what it does.
    """
    pipeline = rt.config.pipeline(pipeline_id)
    dag = rt.dag(pipeline_id)
    nodes = []
    for name in dag.nodes:
        node = dag.node(name)
        nodes.append({"name": name, "handler": node.handler, "kind": "pipeline" if node.pipeline else "handler",
                      "pipeline": node.pipeline, "runs": node.runs, "queue": node.queue, "maxTtl": node.max_ttl,
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

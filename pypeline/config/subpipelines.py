"""Sub-pipeline nodes in config: `pipeline: other_id` instead of `handler`, checked within and across pipelines.

A sub-pipeline node runs the built-in task `SUBPIPELINE_HANDLER` (pypeline.engines.subpipelines), which starts
the target pipeline as a child run; the checks here make sure the target exists, no pipeline starts itself
through any chain of sub-pipeline nodes, and the node uses no option whose result contract it cannot keep.
"""
from __future__ import annotations

from typing import Any

from pypeline.config import codes
from pypeline.config import graph as digraph
from pypeline.config.schema import Reporter, closest, hint
from pypeline.config.yaml_source import join_path

__all__ = ["SUBPIPELINE_HANDLER", "check_node_kind", "node_handler", "check_pipeline_refs"]

#: Dotted path of the built-in task every sub-pipeline node runs (registered like a declared handler).
SUBPIPELINE_HANDLER = "pypeline.engines.subpipelines.run_subpipeline"
#: The two kinds of node: exactly one of these keys.
_KINDS = ("handler", "pipeline")
#: Node options a sub-pipeline node may not use: its result is the child's result document (a mapping).
_REFUSED = ("split", "filter")


def check_node_kind(raw: Any, path: str, rep: Reporter) -> None:
    """A raw taskDefinitions entry names exactly one of `handler` and `pipeline` (each with a value)."""
    if not isinstance(raw, dict):
        return  # not a mapping: reported by the key table check
    present = [key for key in _KINDS if key in raw]
    if len(present) == 2:
        rep.error(join_path(path, "pipeline"), "a node runs either a 'handler' or a sub-'pipeline', not both",
                  code=codes.SUBPIPELINE_NODE)
    elif not present:
        if not any(closest(str(key), _KINDS) for key in raw):  # a misspelt one is reported as unknown already
            rep.error(path, "missing required key 'handler' in a taskDefinitions entry (or 'pipeline': the id of "
                            "a pipeline to run as a sub-pipeline)", key=True, code=codes.MISSING_KEY)
    elif raw[present[0]] is None:
        rep.error(join_path(path, present[0]), f"'{present[0]}' has no value", code=codes.EMPTY_VALUE)


def node_handler(entry: dict[str, Any], path: str, rep: Reporter) -> str | None:
    """The handler a checked taskDefinitions entry runs (the built-in one for `pipeline:`); None if unusable."""
    handler, pipeline = entry.get("handler"), entry.get("pipeline")
    if handler is not None and pipeline is not None:
        return None  # reported by check_node_kind
    if pipeline is None:
        return handler if isinstance(handler, str) else None
    for key in _REFUSED:
        if entry.get(key):
            rep.error(join_path(path, key), f"a sub-pipeline node cannot use '{key}': its result is the child "
                                            "run's result document", code=codes.SUBPIPELINE_NODE)
            return None
    return SUBPIPELINE_HANDLER


def _targets(raw_pipelines: dict[Any, Any]) -> dict[str, list[tuple[str, str, str]]]:
    """Pipeline id -> (node, target pipeline, key path) of each of its sub-pipeline nodes, in file order."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for pid, pipe in raw_pipelines.items():
        if not isinstance(pid, str):
            continue
        config = pipe.get("config") if isinstance(pipe, dict) else None
        defs = config.get("taskDefinitions") if isinstance(config, dict) else None
        found: list[tuple[str, str, str]] = []
        for name, entry in defs.items() if isinstance(defs, dict) else ():
            target = entry.get("pipeline") if isinstance(entry, dict) else None
            if isinstance(name, str) and isinstance(target, str):
                path = join_path(join_path(join_path(join_path(join_path("pipelines", pid), "config"),
                                                     "taskDefinitions"), name), "pipeline")
                found.append((name, target, path))
        out[pid] = found
    return out


def check_pipeline_refs(raw_pipelines: dict[Any, Any], rep: Reporter) -> None:
    """Every sub-pipeline target is a declared pipeline, and no chain of sub-pipeline nodes returns to its start."""
    targets = _targets(raw_pipelines)
    declared = set(targets)
    graph: dict[str, list[str]] = {pid: [] for pid in targets}
    first_path: dict[tuple[str, str], str] = {}
    for pid, nodes in targets.items():
        for node, target, path in nodes:
            if target not in declared:
                text, match = hint(target, declared)
                rep.error(path, f"node '{node}' starts pipeline '{target}', which is not declared in pipelines{text}",
                          code=codes.UNKNOWN_PIPELINE, suggestion=match)
                continue
            if target == pid:
                rep.error(path, f"node '{node}' of pipeline '{pid}' starts its own pipeline: a run would start "
                                "itself forever", code=codes.SUBPIPELINE_CYCLE)
                continue
            if target not in graph[pid]:
                graph[pid].append(target)
                first_path[(pid, target)] = path
    order = {pid: i for i, pid in enumerate(targets)}
    components = [c for c in digraph.strongly_connected_components(graph) if len(c) > 1]
    for component in sorted(components, key=lambda c: min(order[p] for p in c)):
        start = min(component, key=order.__getitem__)
        cycle = digraph.find_cycle(graph, start, within=component)
        shown = " -> ".join([*cycle, cycle[0]])
        rep.error(first_path[(cycle[0], cycle[1])], f"sub-pipeline cycle: {shown} (each starts the next as a child "
                                                    "run, so a run never ends)", code=codes.SUBPIPELINE_CYCLE)

"""Validation of `pipelines` entries: metadata, task definitions, the DAG (edges, cycles) and payload schemas."""
from __future__ import annotations

from typing import Any

from pypeline.config import codes, schema
from pypeline.config import graph as digraph
from pypeline.config.fields import check_mapping, describe, hint
from pypeline.config.model import NodeConfig, PipelineConfig, RetryPolicy
from pypeline.config.ops import check_notify
from pypeline.config.subpipelines import check_node_kind, node_handler
from pypeline.config.validate.base import ValidatorBase
from pypeline.config.yaml_source import index_path, join_path

__all__ = ["PipelineChecks"]


class PipelineChecks(ValidatorBase):
    """Checks of the `pipelines` section."""

    def _pipelines(self, raw: dict[Any, Any]) -> dict[str, PipelineConfig]:
        pipelines: dict[str, PipelineConfig] = {}
        for pid, item in raw.items():
            path = join_path("pipelines", pid)
            if not isinstance(pid, str):
                self.error(path, f"pipeline ids must be strings, got {describe(pid)}",
                           key=True, code=codes.ID_NOT_STRING)
                continue
            pipe = self._pipeline(pid, item, path)
            if pipe is not None:
                pipelines[pid] = pipe
        return pipelines

    def _pipeline(self, pid: str, raw: Any, path: str) -> PipelineConfig | None:
        entry = check_mapping(raw, schema.PIPELINE, path, self.rep)
        if entry is None:
            return None
        self._schema_version(entry, path)
        if "config" not in entry:
            return None  # missing or not a mapping: already reported
        cpath = join_path(path, "config")
        config = check_mapping(entry["config"], schema.PIPELINE_CONFIG, cpath, self.rep) or {}
        meta = check_mapping(config.get("metadata"), schema.METADATA, join_path(cpath, "metadata"), self.rep) or {}
        notify_path = join_path(join_path(cpath, "metadata"), "notify")
        notify = check_notify(meta.get("notify"), notify_path, self.rep)
        if notify is not None and notify.handler:
            self.notify_handlers.append((join_path(notify_path, "handler"), notify.handler))
        if "taskDefinitions" not in config:
            return None  # missing or not a mapping: graph checks would only repeat that
        defs = self._task_definitions(config.get("taskDefinitions") or {}, join_path(cpath, "taskDefinitions"))
        graph, edges = self._graph(config.get("dagAdjacency") or {}, join_path(cpath, "dagAdjacency"), defs)
        nodes = self._nodes(defs, meta, graph, join_path(cpath, "taskDefinitions"))
        payload_schema = config.get("payloadSchema")
        if payload_schema is not None:
            self._payload_schema(payload_schema, join_path(cpath, "payloadSchema"))
        if "taskDefinitions" in config and not config["taskDefinitions"]:
            self.error(join_path(cpath, "taskDefinitions"), "a pipeline needs at least one node in taskDefinitions",
                       code=codes.NO_NODES)
        if "name" not in entry or len(nodes) != len(defs):
            return None
        return PipelineConfig(
            id=pid,
            name=entry["name"],
            nodes=nodes,
            edges=tuple(edges),
            description=entry.get("description"),
            schema_version=entry.get("schemaVersion", 1),
            queue=meta.get("queue", "celery"),
            processor_queue=meta.get("processorQueue", "celery"),
            engine=meta.get("engine", "event"),
            max_run_ttl=meta.get("maxRunTtl"),
            payload_schema=payload_schema,
            raw=raw,
            max_active_runs=meta.get("maxActiveRuns"),
            on_limit=meta.get("onLimit", "queue"),
            notify=notify,
        )

    def _task_definitions(self, raw: dict[Any, Any], path: str) -> dict[str, dict[str, Any]]:
        """Node name -> checked taskDefinitions entry (every key of `raw`, even broken ones, as a node name)."""
        defs: dict[str, dict[str, Any]] = {}
        for name, item in raw.items():
            npath = join_path(path, name)
            if not isinstance(name, str):
                self.error(npath, f"node names must be strings, got {describe(name)}",
                           key=True, code=codes.ID_NOT_STRING)
                continue
            entry = check_mapping(item, schema.TASK_DEFINITION, npath, self.rep)
            check_node_kind(item, npath, self.rep)
            defs[name] = entry if entry is not None else {}
            handler = defs[name].get("handler")
            if handler is not None:
                self.handler_uses.append((join_path(npath, "handler"), handler, True))
        return defs

    def _graph(
        self, raw: dict[Any, Any], path: str, defs: dict[str, dict[str, Any]]
    ) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
        """Edges in file order and the successor lists of every node (graph nodes and standalone taskDefinitions)."""
        graph: dict[str, list[str]] = {name: [] for name in defs}
        edges: list[tuple[str, str]] = []
        edge_paths: dict[tuple[str, str], str] = {}
        for parent, children in raw.items():
            ppath = join_path(path, parent)
            if not isinstance(parent, str):
                self.error(ppath, f"node names must be strings, got {describe(parent)}",
                           key=True, code=codes.ID_NOT_STRING)
                continue
            if parent not in defs:
                text, match = hint(parent, defs)
                self.error(ppath, f"node '{parent}' has no taskDefinitions entry{text}",
                           key=True, code=codes.UNKNOWN_NODE, suggestion=match)
            if children is None:
                children = []
            if not isinstance(children, list):
                self.error(ppath, f"dagAdjacency.{parent} must be a list of child node names, got {describe(children)}",
                           code=codes.WRONG_TYPE)
                continue
            seen: set[str] = set()
            for i, child in enumerate(children):
                cpath = index_path(ppath, i)
                if not isinstance(child, str) or not child.strip():
                    self.error(cpath, f"child node names must be non-empty strings, got {describe(child)}",
                               code=codes.WRONG_TYPE)
                    continue
                child = child.strip()
                if child in seen:
                    self.error(cpath, f"duplicate child '{child}' in dagAdjacency.{parent}", code=codes.DUPLICATE_CHILD)
                    continue
                seen.add(child)
                if child == parent:
                    self.error(cpath, f"self-loop: node '{parent}' lists itself as a child ({parent} -> {parent})",
                               code=codes.SELF_LOOP)
                    continue
                if child not in defs:
                    text, match = hint(child, defs)
                    self.error(cpath, f"edge '{parent} -> {child}' points to unknown node '{child}': it has no "
                                      f"taskDefinitions entry{text}", code=codes.UNKNOWN_NODE, suggestion=match)
                    continue
                if parent not in defs:
                    continue
                edges.append((parent, child))
                edge_paths[(parent, child)] = cpath
                graph[parent].append(child)
        self._cycles(graph, edge_paths, list(defs))
        return graph, edges

    def _cycles(self, graph: dict[str, list[str]], edge_paths: dict[tuple[str, str], str], order: list[str]) -> None:
        rank = {name: i for i, name in enumerate(order)}
        components = [c for c in digraph.strongly_connected_components(graph) if len(c) > 1]
        for component in sorted(components, key=lambda c: min(rank[n] for n in c)):
            start = min(component, key=rank.__getitem__)
            cycle = digraph.find_cycle(graph, start, within=component)
            first = cycle.index(min(cycle, key=rank.__getitem__))
            cycle = cycle[first:] + cycle[:first]
            shown = " -> ".join([*cycle, cycle[0]])
            self.error(edge_paths[(cycle[0], cycle[1])], f"cycle in dagAdjacency: {shown}", code=codes.CYCLE)

    def _nodes(
        self, defs: dict[str, dict[str, Any]], meta: dict[str, Any], graph: dict[str, list[str]], path: str
    ) -> dict[str, NodeConfig]:
        upstream = digraph.reverse(graph)
        engine = meta.get("engine", "event")
        nodes: dict[str, NodeConfig] = {}
        split_nodes = {name for name, d in defs.items() if d.get("split")}
        for name, d in defs.items():
            npath = join_path(path, name)
            if engine == "dyrygent":
                for key in ("split", "filter", "joinKey"):
                    if d.get(key):
                        self.error(join_path(npath, key), f"engine 'dyrygent' does not support '{key}' "
                                                          f"(node {name}); use engine: event",
                                   code=codes.ENGINE_UNSUPPORTED)
            if "splitConcurrency" in d and not d.get("split"):
                self.error(join_path(npath, "splitConcurrency"), f"'splitConcurrency' requires 'split: true' "
                                                                 f"(node {name})", code=codes.NEEDS_SPLIT)
            if d.get("joinKey") and len(upstream[name]) < 2 and not (digraph.reachable(upstream, name) & split_nodes):
                self.error(join_path(npath, "joinKey"), f"'joinKey' on node '{name}' needs at least two upstream "
                                                        "nodes or a split node upstream", code=codes.JOIN_WITHOUT_JOIN)
            handler = node_handler(d, npath, self.rep)
            if handler is None:
                continue
            retry = RetryPolicy(
                max_retry=d.get("maxRetry", meta.get("maxRetry", 3)),
                backoff=d.get("retryBackoff", meta.get("retryBackoff", 3)),
                jitter=d.get("retryJitter", meta.get("retryJitter", False)),
                backoff_max=d.get("retryBackoffMax", meta.get("retryBackoffMax", 600)),
            )
            nodes[name] = NodeConfig(
                name=name,
                handler=handler,
                pipeline=d.get("pipeline"),
                queue=d.get("queue", meta.get("queue", "celery")),
                max_ttl=d.get("maxTtl", meta.get("maxTtl", 60)),
                retry=retry,
                priority=d.get("priority", meta.get("priority")),
                split=d.get("split", False),
                split_concurrency=d.get("splitConcurrency"),
                filter=d.get("filter", False),
                join_key=d.get("joinKey"),
            )
        return nodes

    def _payload_schema(self, value: dict[str, Any], path: str) -> None:
        import jsonschema  # only configs with a payloadSchema pay for it

        try:
            jsonschema.validators.validator_for(value).check_schema(value)
        except jsonschema.SchemaError as exc:
            where = path
            for part in exc.path:
                where = index_path(where, part) if isinstance(part, int) else join_path(where, part)
            self.error(where, f"invalid payloadSchema: {exc.message}", code=codes.PAYLOAD_SCHEMA)
        except Exception as exc:  # e.g. an unhashable $schema value inside jsonschema
            self.error(path, f"invalid payloadSchema: {type(exc).__name__}: {exc}", code=codes.PAYLOAD_SCHEMA)

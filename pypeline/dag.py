"""A pipeline as a networkx DiGraph: roots, leaves, levels, successors, and mermaid/dot rendering."""
from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

import networkx as nx

from pypeline.config.model import NodeConfig, PipelineConfig

__all__ = ["PipelineDag", "build_graph"]


def build_graph(pipeline: PipelineConfig) -> nx.DiGraph:
    """A DiGraph with one node per pipeline node (attribute `config`) and one edge per dependency."""
    graph = nx.DiGraph(pipeline_id=pipeline.id)
    for name, node in pipeline.nodes.items():
        graph.add_node(name, config=node)
    graph.add_edges_from(pipeline.edges)
    return graph


class PipelineDag:
    """Read-only graph queries the engines need, computed once per pipeline."""

    def __init__(self, pipeline: PipelineConfig) -> None:
        self.pipeline = pipeline
        self.graph = build_graph(pipeline)
        if not nx.is_directed_acyclic_graph(self.graph):
            cycle = " -> ".join(u for u, _ in nx.find_cycle(self.graph))
            raise ValueError(f"pipeline {pipeline.id!r} has a cycle: {cycle}")
        self._order = {n: i for i, n in enumerate(nx.lexicographical_topological_sort(self.graph))}
        self._succ = {n: tuple(sorted(self.graph.successors(n), key=self._order.__getitem__)) for n in self.graph}
        self._pred = {n: tuple(sorted(self.graph.predecessors(n), key=self._order.__getitem__)) for n in self.graph}

    @property
    def nodes(self) -> list[str]:
        """Node names in a stable topological order."""
        return sorted(self.graph, key=self._order.__getitem__)

    def node(self, name: str) -> NodeConfig:
        """The config of one node."""
        return self.pipeline.nodes[name]

    @cached_property
    def roots(self) -> list[str]:
        """Nodes with no upstream."""
        return [n for n in self.nodes if not self._pred[n]]

    @cached_property
    def leaves(self) -> list[str]:
        """Nodes with no downstream."""
        return [n for n in self.nodes if not self._succ[n]]

    def successors(self, name: str) -> tuple[str, ...]:
        """Direct downstream nodes."""
        return self._succ[name]

    def predecessors(self, name: str) -> tuple[str, ...]:
        """Direct upstream nodes."""
        return self._pred[name]

    def descendants(self, name: str) -> list[str]:
        """Every node reachable from `name`, topologically ordered."""
        return sorted(nx.descendants(self.graph, name), key=self._order.__getitem__)

    @cached_property
    def levels(self) -> list[list[str]]:
        """Topological generations: level k holds nodes whose longest upstream path has k edges."""
        return [sorted(g, key=self._order.__getitem__) for g in nx.topological_generations(self.graph)]

    def subgraph_nodes(self, start: Iterable[str]) -> list[str]:
        """`start` plus all its descendants, topologically ordered."""
        seen: set[str] = set()
        for s in start:
            seen.add(s)
            seen.update(nx.descendants(self.graph, s))
        return sorted(seen, key=self._order.__getitem__)

    def to_mermaid(self) -> str:
        """A mermaid flowchart of the pipeline."""
        ids = {n: f"n{i}" for i, n in enumerate(self.nodes)}
        lines = ["flowchart TD"]
        for n in self.nodes:
            label = f"{n}<br/><small>{self.node(n).handler}</small>".replace('"', "'")
            lines.append(f'    {ids[n]}["{label}"]')
        for u, v in sorted(self.graph.edges, key=lambda e: (self._order[e[0]], self._order[e[1]])):
            lines.append(f"    {ids[u]} --> {ids[v]}")
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        """A Graphviz dot digraph of the pipeline."""
        def q(s: str) -> str:
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

        lines = [f"digraph {q(self.pipeline.id)} {{", "    rankdir=TB;"]
        for n in self.nodes:
            lines.append(f"    {q(n)} [label={q(n + chr(10) + self.node(n).handler)}];".replace(chr(10), "\\n"))
        for u, v in sorted(self.graph.edges, key=lambda e: (self._order[e[0]], self._order[e[1]])):
            lines.append(f"    {q(u)} -> {q(v)};")
        lines.append("}")
        return "\n".join(lines) + "\n"

"""A pipeline's DAG: roots, leaves, levels, successors, and mermaid/dot rendering.

The queries run on plain adjacency lists (`pypeline.config.graph`), so a process that only loads
configs and runs nodes never imports networkx; `PipelineDag.graph` builds a networkx DiGraph on
first use for analysis and layout.
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING

from pypeline.config import graph as digraph
from pypeline.config.model import NodeConfig, PipelineConfig

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["PipelineDag", "build_graph"]


def build_graph(pipeline: PipelineConfig) -> nx.DiGraph[str]:
    """A DiGraph with one node per pipeline node (attribute `config`) and one edge per dependency."""
    import networkx as nx

    graph: nx.DiGraph[str] = nx.DiGraph(pipeline_id=pipeline.id)
    for name, node in pipeline.nodes.items():
        graph.add_node(name, config=node)
    graph.add_edges_from(pipeline.edges)
    return graph


class PipelineDag:
    """Read-only graph queries the engines need, computed once per pipeline."""

    def __init__(self, pipeline: PipelineConfig) -> None:
        self.pipeline = pipeline
        succ = digraph.adjacency(pipeline.nodes, pipeline.edges)
        pred = digraph.reverse(succ)
        try:
            order = digraph.lexicographical_topological_sort(succ, pred)
        except digraph.CycleFound:
            start = next(n for c in digraph.strongly_connected_components(succ) for n in c
                         if len(c) > 1 or n in succ[n])
            cycle = " -> ".join(digraph.find_cycle(succ, start))
            raise ValueError(f"pipeline {pipeline.id!r} has a cycle: {cycle}") from None
        self._order = {n: i for i, n in enumerate(order)}
        self._succ = {n: tuple(sorted(succ[n], key=self._order.__getitem__)) for n in succ}
        self._pred = {n: tuple(sorted(pred[n], key=self._order.__getitem__)) for n in succ}
        self._edges = [(u, v) for u in order for v in self._succ[u]]

    @cached_property
    def graph(self) -> nx.DiGraph[str]:
        """The pipeline as a networkx DiGraph (built on first use)."""
        return build_graph(self.pipeline)

    @property
    def nodes(self) -> list[str]:
        """Node names in a stable topological order."""
        return list(self._order)

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
        return sorted(digraph.reachable(self._succ, name), key=self._order.__getitem__)

    @cached_property
    def levels(self) -> list[list[str]]:
        """Topological generations: level k holds nodes whose longest upstream path has k edges."""
        return [sorted(g, key=self._order.__getitem__) for g in digraph.topological_generations(self._succ, self._pred)]

    def subgraph_nodes(self, start: Iterable[str]) -> list[str]:
        """`start` plus all its descendants, topologically ordered."""
        seen: set[str] = set()
        for s in start:
            seen.add(s)
            seen.update(digraph.reachable(self._succ, s))
        return sorted(seen, key=self._order.__getitem__)

    def to_mermaid(self) -> str:
        """A mermaid flowchart of the pipeline."""
        ids = {n: f"n{i}" for i, n in enumerate(self.nodes)}
        lines = ["flowchart TD"]
        for n in self.nodes:
            label = f"{n}<br/><small>{self.node(n).runs}</small>".replace('"', "'")
            lines.append(f'    {ids[n]}["{label}"]')
        for u, v in self._edges:
            lines.append(f"    {ids[u]} --> {ids[v]}")
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        """A Graphviz dot digraph of the pipeline."""
        def q(s: str) -> str:
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

        lines = [f"digraph {q(self.pipeline.id)} {{", "    rankdir=TB;"]
        for n in self.nodes:
            lines.append(f"    {q(n)} [label={q(n + chr(10) + self.node(n).runs)}];".replace(chr(10), "\\n"))
        for u, v in self._edges:
            lines.append(f"    {q(u)} -> {q(v)};")
        lines.append("}")
        return "\n".join(lines) + "\n"

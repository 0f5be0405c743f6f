"""The original's `graph_utils`: a networkx graph from a pipeline's `config` dict and its execution waves."""
from __future__ import annotations

from typing import Any

import networkx as nx

__all__ = ["get_execution_graph", "find_entry_points", "find_successors", "get_chainable_tasks", "find_all_nodes",
           "find_all_edges"]


def get_execution_graph(config: dict[str, Any], adjacency_key: str = "dagAdjacency",
                        task_definitions_key: str = "taskDefinitions") -> nx.DiGraph[str]:
    """A DiGraph of the adjacency list; nodes carry their task definition as `attr_dict`.

    Unlike the original, a node that appears only as a child, or only in `taskDefinitions`, is a node too.
    """
    adjacency = config.get(adjacency_key) or {}
    definitions = config.get(task_definitions_key) or {}
    graph: nx.DiGraph[str] = nx.DiGraph()
    for node in [*adjacency, *definitions]:
        graph.add_node(node, attr_dict=definitions.get(node, {}))
    for node, children in adjacency.items():
        for child in children or []:
            graph.add_node(child, attr_dict=definitions.get(child, {}))
            graph.add_edge(node, child, **definitions.get(child, {}))
    return graph


def find_entry_points(G: nx.DiGraph[str]) -> list[str]:
    """Nodes with no predecessors."""
    return [node for node in G.nodes if G.in_degree(node) == 0]


def find_successors(G: nx.DiGraph[str], nodes: list[str] | str, dedup: bool = True) -> list[str]:
    """Direct successors of one node or a list of nodes (first-seen order, de-duplicated by default)."""
    found: list[str] = []
    for node in [nodes] if isinstance(nodes, str) else nodes:
        for child in G.successors(node):
            if not dedup or child not in found:
                found.append(child)
    return found


def get_chainable_tasks(G: nx.DiGraph[str], starting_nodes: list[str] | None = None,
                        graph_tasks: list[list[str]] | None = None) -> list[list[str]]:
    """Execution waves: each node once, after all of its predecessors (networkx topological generations).

    The original's breadth-first waves ran a node twice when it was reachable by paths of different lengths.
    """
    waves = [sorted(gen, key=list(G.nodes).index) for gen in nx.topological_generations(G)]
    if starting_nodes is not None:
        keep = set(starting_nodes) | {d for n in starting_nodes for d in nx.descendants(G, n)}
        waves = [[n for n in wave if n in keep] for wave in waves]
        waves = [wave for wave in waves if wave]
    return [*(graph_tasks or []), *waves]


def find_all_nodes(G: nx.DiGraph[str]) -> list[str]:
    """Every node."""
    return list(G.nodes)


def find_all_edges(G: nx.DiGraph[str]) -> list[tuple[str, str]]:
    """Every edge."""
    return list(G.edges)

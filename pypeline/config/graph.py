"""The few directed-graph algorithms config validation and the DAG queries need, on plain adjacency dicts.

Pipelines have tens to thousands of nodes, and these run in every process at config load: importing
networkx (≈ 0.15–0.3 s) would dominate `pypeline validate` and every command's start-up. networkx stays
for rendering and analysis (`PipelineDag.graph`); the results here match its functions of the same name.
"""
from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

__all__ = ["Adjacency", "adjacency", "reverse", "strongly_connected_components", "find_cycle", "reachable",
           "lexicographical_topological_sort", "topological_generations", "CycleFound"]

N = TypeVar("N", bound=Hashable)
#: node -> its direct successors, in insertion order (every node is a key).
Adjacency = Mapping[N, Sequence[N]]


class Ordered(Hashable, Protocol):
    """A node type with an order (the lexicographical sort takes the smallest ready node)."""

    def __lt__(self, other: Any, /) -> bool: ...


S = TypeVar("S", bound=Ordered)


class CycleFound(ValueError):
    """A topological order was asked of a graph with a cycle."""


def adjacency(nodes: Iterable[N], edges: Iterable[tuple[N, N]]) -> dict[N, list[N]]:
    """Successor lists of every node (edges keep their order; duplicates are dropped)."""
    succ: dict[N, list[N]] = {n: [] for n in nodes}
    for u, v in edges:
        succ.setdefault(v, [])
        targets = succ.setdefault(u, [])
        if v not in targets:
            targets.append(v)
    return succ


def reverse(succ: Adjacency[N]) -> dict[N, list[N]]:
    """Predecessor lists of every node."""
    pred: dict[N, list[N]] = {n: [] for n in succ}
    for u, targets in succ.items():
        for v in targets:
            pred[v].append(u)
    return pred


def strongly_connected_components(succ: Adjacency[N]) -> list[set[N]]:
    """Tarjan's algorithm, iterative (no recursion limit on deep chains)."""
    index: dict[N, int] = {}
    low: dict[N, int] = {}
    on_stack: set[N] = set()
    stack: list[N] = []
    components: list[set[N]] = []
    for root in succ:
        if root in index:
            continue
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(succ[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: set[N] = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
    return components


def find_cycle(succ: Adjacency[N], source: N, within: set[N] | None = None) -> list[N]:
    """The first cycle a depth-first search from `source` meets (nodes in path order); [] if none.

    Only nodes in `within` are visited when it is given (e.g. one strongly connected component).
    """
    path: list[N] = [source]
    on_path = {source}
    done: set[N] = set()
    work = [iter(succ[source])]
    while work:
        for child in work[-1]:
            if within is not None and child not in within:
                continue
            if child in on_path:
                return path[path.index(child):]
            if child not in done:
                path.append(child)
                on_path.add(child)
                work.append(iter(succ[child]))
                break
        else:
            work.pop()
            finished = path.pop()
            on_path.discard(finished)
            done.add(finished)
    return []


def reachable(adj: Adjacency[N], start: N) -> set[N]:
    """Every node reachable from `start` through `adj` (its descendants; ancestors on the reversed graph)."""
    seen: set[N] = set()
    todo = list(adj[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(adj[node])
    return seen


def lexicographical_topological_sort(succ: Adjacency[S], pred: Adjacency[S]) -> list[S]:
    """The topological order that always takes the smallest ready node next (networkx's default key)."""
    indegree = {n: len(pred[n]) for n in succ}
    ready = [n for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order: list[S] = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for child in succ[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, child)
    if len(order) != len(succ):
        raise CycleFound("the graph has a cycle")
    return order


def topological_generations(succ: Adjacency[N], pred: Adjacency[N]) -> list[list[N]]:
    """Level k holds the nodes whose longest upstream path has k edges."""
    indegree = {n: len(pred[n]) for n in succ}
    level = [n for n, d in indegree.items() if d == 0]
    levels: list[list[N]] = []
    seen = 0
    while level:
        levels.append(level)
        seen += len(level)
        following: list[N] = []
        for node in level:
            for child in succ[node]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    following.append(child)
        level = following
    if seen != len(succ):
        raise CycleFound("the graph has a cycle")
    return levels

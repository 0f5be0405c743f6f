"""networkx DAG queries and rendering."""
from __future__ import annotations

import networkx as nx

from pypeline.config import load_config
from pypeline.dag import PipelineDag, build_graph
from tests.helpers import EXAMPLE


def _dag(pipeline: str) -> PipelineDag:
    return PipelineDag(load_config(EXAMPLE).pipeline(pipeline))


def test_demo_roots_leaves_levels() -> None:
    dag = _dag("demo")
    assert isinstance(dag.graph, nx.DiGraph)
    assert dag.roots == ["fetch"] and dag.leaves == ["load"]
    assert dag.levels == [["fetch"], ["clean", "enrich"], ["load"]]
    assert dag.predecessors("load") == ("clean", "enrich")
    assert dag.descendants("fetch") == ["clean", "enrich", "load"]


def test_diamond_has_c_once_after_b() -> None:
    dag = _dag("diamond")
    assert dag.levels == [["a"], ["b"], ["c"]]
    assert dag.nodes.count("c") == 1
    assert dag.predecessors("c") == ("a", "b")


def test_graph_nodes_carry_their_config() -> None:
    graph = build_graph(load_config(EXAMPLE).pipeline("demo"))
    assert graph.nodes["clean"]["config"].max_ttl == 30


def test_mermaid_and_dot() -> None:
    dag = _dag("demo")
    mermaid = dag.to_mermaid()
    assert mermaid.startswith("flowchart TD")
    assert mermaid.count("-->") == 4
    dot = dag.to_dot()
    assert dot.startswith('digraph "demo"') and '"fetch" -> "clean";' in dot and dot.count("->") == 4

"""DAG layout for the inline SVG, and the per-node display state of a run."""
from __future__ import annotations

from itertools import combinations

from pypeline.config import load_config
from pypeline.dag import PipelineDag
from pypeline.services.layout import layout_dag
from pypeline.web.state import node_states
from tests.helpers import EXAMPLE


def _overlap(a, b) -> bool:  # type: ignore[no-untyped-def]
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def _layout_of(pipeline_id: str):  # type: ignore[no-untyped-def]
    dag = PipelineDag(load_config(EXAMPLE, check_handlers=False).pipeline(pipeline_id))
    return dag, layout_dag(dag.levels, list(dag.graph.edges))


def test_levels_become_columns_and_boxes_never_overlap() -> None:
    dag, layout = _layout_of("demo")
    xs = {b.name: b.x for b in layout.boxes}
    assert xs["fetch"] < xs["clean"] == xs["enrich"] < xs["load"]
    assert not any(_overlap(a, b) for a, b in combinations(layout.boxes, 2))
    assert all(0 <= b.x and b.x + b.w <= layout.width and 0 <= b.y and b.y + b.h <= layout.height
               for b in layout.boxes)
    assert {(e.source, e.target) for e in layout.edges} == set(dag.graph.edges)
    # Each edge starts on its parent's right side and ends on its child's left side.
    for e in layout.edges:
        parent, child = layout.box(e.source), layout.box(e.target)
        assert e.d.startswith(f"M{parent.x + parent.w:.1f},{parent.cy:.1f}")
        assert e.d.endswith(f"{child.x:.1f},{child.cy:.1f}")


def test_diamond_edge_that_skips_a_level() -> None:
    _, layout = _layout_of("diamond")
    xs = {b.name: b.x for b in layout.boxes}
    assert xs["a"] < xs["b"] < xs["c"]  # c waits for b: level 2, not level 1
    assert len(layout.edges) == 3


def test_barycentre_ordering_removes_a_crossing() -> None:
    # Level 1 is declared as [y, x] but x's child comes first: ordering follows the parents.
    levels = [["a", "b"], ["y", "x"]]
    layout = layout_dag(levels, [("a", "x"), ("b", "y")])
    assert layout.box("x").y < layout.box("y").y


def test_single_node_and_long_names() -> None:
    layout = layout_dag([["only"]], [])
    assert len(layout.boxes) == 1 and layout.edges == [] and layout.width > 0 and layout.height > 0
    long = "n" * 80
    box = layout_dag([[long]], []).boxes[0]
    assert box.label.endswith("…") and len(box.label) < 30 and box.name == long and box.w <= 240


def _row(node: str, status: str, instance: str = "", duration: float | None = None) -> dict:
    return {"node": node, "instance": instance, "status": status, "attempts": 1, "retries": 0,
            "duration": duration, "started_at": None, "finished_at": None, "error": None}


def test_node_states_fold_split_instances() -> None:
    states = node_states([
        _row("a", "SUCCESS", duration=1.5),
        _row("b", "RUNNING"), _row("b", "SUCCESS", "0"), _row("b", "SUCCESS", "1"),
        _row("c", "SUCCESS", "0"), _row("c", "FAILED", "1"),
    ])
    assert states["a"]["status"] == "SUCCESS" and states["a"]["duration"] == 1.5 and states["a"]["instances"] == 0
    assert states["b"]["status"] == "RUNNING" and (states["b"]["done"], states["b"]["instances"]) == (2, 2)
    assert states["c"]["status"] == "FAILED"  # only instances: the worst one shows

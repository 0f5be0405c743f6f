"""Dataflow rules as pure functions of the DAG: scopes, keys, and the plans the store applies."""
from __future__ import annotations

from typing import Any

import pytest

from pypeline.dag import PipelineDag
from pypeline.engines.dataflow import (
    Dataflow,
    child_instance,
    extract_key,
    group_by_key,
    instance_depth,
    instance_index,
    instance_prefix,
    parse_key,
)
from pypeline.errors import InvalidInputError, NodeExecutionError
from pypeline.pipeline import Pipeline

H = "pypeline_examples.dataflow.trace"


def _flow(edges: list[tuple[str, str]], **nodes: dict[str, Any]) -> Dataflow:
    pipe = Pipeline("p")
    names = list(dict.fromkeys([n for e in edges for n in e] + list(nodes)))
    for name in names:
        pipe.add_node(name, H, **nodes.get(name, {}))
    for a, b in edges:
        pipe.add_edge(a, b)
    return Dataflow(PipelineDag(pipe.to_config(check_handlers=False)))


SPLIT = {"split": True}


def test_instance_ids() -> None:
    assert child_instance("", 3) == "3" and child_instance("3", 1) == "3.1"
    assert [instance_depth(i) for i in ("", "3", "3.1")] == [0, 1, 2]
    assert instance_prefix("3.1.4", 2) == "3.1" and instance_prefix("3.1", 0) == ""
    assert instance_index("3.12") == 12


def test_scopes_regions_entries_and_joins_of_nested_splits() -> None:
    flow = _flow([("outer", "inner"), ("inner", "a"), ("inner", "b"), ("a", "m"), ("b", "m"), ("m", "j1"),
                  ("j1", "j2"), ("j2", "end")],
                 outer=SPLIT, inner={"split": True, "split_concurrency": 2}, j1={"join_key": "k"},
                 j2={"join_key": "kind"})
    assert flow.scope == {"outer": (), "inner": ("outer",), "a": ("outer", "inner"), "b": ("outer", "inner"),
                          "m": ("outer", "inner"), "j1": ("outer",), "j2": (), "end": ()}
    assert flow.closes == {"j1": "inner", "j2": "outer"}
    inner = flow.splits["inner"]
    assert inner.region == ("a", "b", "m") and inner.entries == ("a", "b") and inner.joins == ("j1",)
    assert flow.splits["outer"].region == ("inner", "j1") and flow.top_level == ["outer", "j2", "end"]
    assert flow.upstream_count("m") == 2 and flow.upstream_count("a") == 0 and flow.upstream_count("j2") == 1


def test_mixing_split_scopes_is_rejected_with_the_nodes_named() -> None:
    with pytest.raises(InvalidInputError, match=r"node 'c' mixes inputs from different split scopes: "
                                                r"b \(inside split s\), x \(outside any split\)"):
        _flow([("s", "b"), ("b", "c"), ("x", "c")], s=SPLIT)
    with pytest.raises(InvalidInputError, match="put a node with 'joinKey'"):
        Pipeline("bad").add_node("s", H, split=True).add_node("b", H).add_node("x", H).add_node("c", H) \
            .add_edge("s", "b").add_edge("b", "c").add_edge("x", "c").to_config(check_handlers=False)


def test_key_paths_are_parsed_and_followed_without_evaluation() -> None:
    assert parse_key("customer.id") == ("customer", "id")
    with pytest.raises(InvalidInputError, match="invalid joinKey 'a..b'"):
        parse_key("a..b")
    item = {"customer": {"id": "c1"}, "lines": [{"sku": "x"}, {"sku": "y"}]}
    assert extract_key(item, ("customer", "id"), where="r") == "c1"
    assert extract_key(item, ("lines", "1", "sku"), where="r") == "y"
    with pytest.raises(NodeExecutionError, match=r"joinKey 'customer\.name': result 3 has no 'customer\.name'"):
        extract_key(item, ("customer", "name"), where="result 3")
    with pytest.raises(NodeExecutionError, match="has a dict at that path"):
        extract_key(item, ("customer",), where="r")
    with pytest.raises(NodeExecutionError, match="no '__class__'"):
        extract_key(item, ("__class__",), where="r")


def test_group_by_key_keeps_order_and_allows_null_keys() -> None:
    items = [("a", {"k": 1, "v": 1}), ("b", {"k": None, "v": 2}), ("c", {"k": 1, "v": 3})]
    assert group_by_key(items, ("k",)) == {1: [{"k": 1, "v": 1}, {"k": 1, "v": 3}], None: [{"k": None, "v": 2}]}


def test_success_plan_routes_to_same_instance_and_to_the_enclosing_join() -> None:
    flow = _flow([("s", "a"), ("a", "b"), ("b", "j"), ("a", "j")], s=SPLIT, j={"join_key": "k"})
    plan, inline = flow.success_plan("a", "2", {"x": 1})
    assert plan.release == {("b", "2"): 1, ("j", ""): 1}
    assert inline == {("b", "2"): {"a": {"x": 1}}}  # single-parent node: result travels in the message


def test_spawn_plan_holds_instances_beyond_the_cap_and_arms_the_join() -> None:
    flow = _flow([("s", "a"), ("a", "b"), ("b", "j"), ("s", "j")], s={"split": True, "split_concurrency": 2},
                 j={"join_key": "k"})
    plan, inline = flow.success_plan("s", "", ["x", "y", "z"])
    rows = {(r.node, r.instance): r.upstreams for r in plan.spawn}
    assert rows == {("a", "0"): 0, ("b", "0"): 1, ("a", "1"): 0, ("b", "1"): 1, ("a", "2"): 1, ("b", "2"): 1}
    assert inline == {("a", "0"): {"s": "x"}, ("a", "1"): {"s": "y"}}
    assert plan.arm == {("j", ""): 3}  # three instances of b; the split itself is already done


def test_drop_plan_skips_what_only_dropped_nodes_feed_and_releases_the_rest() -> None:
    flow = _flow([("f", "x"), ("x", "y"), ("f", "m"), ("g", "m"), ("y", "z"), ("m", "z")], f={"filter": True})
    plan = flow.drop_plan("f", "")
    assert sorted(plan.skip) == [("x", ""), ("y", "")]
    assert plan.release == {("m", ""): 1, ("z", ""): 1}
    split = _flow([("f", "s"), ("s", "a"), ("a", "j")], f={"filter": True}, s=SPLIT, j={"join_key": "k"})
    assert sorted(split.drop_plan("f", "").skip) == [("j", ""), ("s", "")]  # no collection: the join goes too


def test_failure_plan_skips_the_instance_and_the_enclosing_join() -> None:
    flow = _flow([("s", "a"), ("a", "b"), ("b", "j"), ("j", "after")], s={"split": True, "split_concurrency": 1},
                 j={"join_key": "k"})
    plan = flow.failure_plan("a", "4")
    assert plan.skip == [("b", "4"), ("j", ""), ("after", "")]
    assert [(g.split, g.split_instance, g.instance, g.entries) for g in plan.gates] == [("s", "", "4", ("a",))]


def test_rerun_plan_redoes_failed_and_failure_skipped_rows_and_keeps_filtered_ones() -> None:
    flow = _flow([("s", "a"), ("a", "b"), ("b", "j")], s={"split": True, "split_concurrency": 1},
                 a={"filter": True}, j={"join_key": "k"})
    rows = [("s", "", "SUCCESS", None), ("j", "", "SKIPPED", "upstream node 'b' failed"),
            ("a", "0", "SUCCESS", None), ("b", "0", "FAILED", "boom"),
            ("a", "1", "SKIPPED", None), ("b", "1", "SKIPPED", None),
            ("a", "2", "CANCELLED", None), ("b", "2", "CANCELLED", None),
            ("a", "3", "CANCELLED", None), ("b", "3", "CANCELLED", None)]
    plan = flow.rerun_plan(rows)
    # b[0] runs again at once (counts toward the cap of 1), so a[2] and a[3] are held back; j waits for
    # the three unfinished b rows; the filtered instance 1 is kept as it is.
    assert plan == {("j", ""): 3, ("b", "0"): 0, ("a", "2"): 1, ("b", "2"): 1, ("a", "3"): 1, ("b", "3"): 1}

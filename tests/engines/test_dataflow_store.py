"""Dataflow plans applied by the run store on SQLite and PostgreSQL: spawned instances, the concurrency gate
(also under concurrent finishers), filtered skips and instance-aware reruns."""
from __future__ import annotations

import threading
import uuid

import pytest

from pypeline.dag import PipelineDag
from pypeline.engines.dataflow import Dataflow
from pypeline.pipeline import Pipeline
from pypeline.status import Status
from pypeline.store import RunStore
from pypeline.store.repository import NodeSpec

H = "pypeline_examples.dataflow.trace"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> RunStore:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    return RunStore(url)


def _flow(cap: int | None) -> Dataflow:
    """s (split) -> e1, e2 -> m -> j (joinKey)."""
    pipe = (Pipeline("p").add_node("s", H, split=True, **({"split_concurrency": cap} if cap else {}))
            .add_node("e1", H).add_node("e2", H).add_node("m", H).add_node("j", H, join_key="k")
            .add_edge("s", "e1").add_edge("s", "e2").add_edge("e1", "m").add_edge("e2", "m").add_edge("m", "j"))
    return Dataflow(PipelineDag(pipe.to_config(check_handlers=False)))


def _start(store: RunStore, flow: Dataflow, items: list[object]) -> tuple[str, list[tuple[str, str]]]:
    run_id = str(uuid.uuid4())
    dag = flow.dag
    specs = [NodeSpec(n, H, "q", len(dag.predecessors(n))) for n in flow.top_level]
    assert store.create_run(run_id, "p", specs, leaves=dag.leaves) == ["s"]
    store.claim_node(run_id, "s", "t-s")
    plan, _ = flow.success_plan("s", "", items)
    out = store.finish_node(run_id, "s", Status.SUCCESS, result=items, plan=plan)
    return run_id, out.dispatch


def _finish(store: RunStore, flow: Dataflow, run_id: str, node: str, inst: str, value: object = 1) -> list:
    assert store.claim_node(run_id, node, f"t-{node}-{inst}", inst).claimed
    plan, _ = flow.success_plan(node, inst, {"k": value})
    return store.finish_node(run_id, node, Status.SUCCESS, instance=inst, result={"k": value}, plan=plan).dispatch


def test_split_spawns_instances_under_the_cap_and_the_join_runs_last(store: RunStore) -> None:
    flow = _flow(cap=2)
    run_id, ready = _start(store, flow, ["a", "b", "c", "d"])
    assert sorted(ready) == [("e1", "0"), ("e1", "1"), ("e2", "0"), ("e2", "1")]
    assert store.get_run(run_id)["nodes_total"] == 2 + 4 * 3
    assert _finish(store, flow, run_id, "e1", "0") == []
    assert _finish(store, flow, run_id, "e2", "0") == [("m", "0")]
    # instance 0 is not finished until m[0] is: nothing new starts yet
    assert store.node_statuses(run_id)["e1[2]"] == "PENDING"
    assert sorted(_finish(store, flow, run_id, "m", "0", "x")) == [("e1", "2"), ("e2", "2")]
    for inst in ("1", "2", "3"):
        for node in ("e1", "e2"):
            if store.node_statuses(run_id)[f"{node}[{inst}]"] == "PENDING":
                assert inst == "3"
                continue
            _finish(store, flow, run_id, node, inst)
        last = _finish(store, flow, run_id, "m", inst, "y")
        assert last == ([("j", "")] if inst == "3" else [("e1", "3"), ("e2", "3")] if inst == "1" else [])
    statuses = store.node_statuses(run_id)
    assert statuses["j"] == "QUEUED" and all(s == "SUCCESS" for n, s in statuses.items() if n not in ("j",))
    rows = store.instance_results(run_id, ["m"], "")
    assert [(n, i, r) for n, i, _, r in rows] == [("m", str(i), {"k": v}) for i, v in enumerate("xyyy")]


def test_concurrent_last_rows_of_an_instance_release_the_next_exactly_once(store: RunStore) -> None:
    """s -> e1, s -> e2 (two leaves per instance, cap 1, no join): both finishers ask "is the instance done?"."""
    pipe = (Pipeline("p").add_node("s", H, split=True, split_concurrency=1).add_node("e1", H).add_node("e2", H)
            .add_edge("s", "e1").add_edge("s", "e2"))
    flow = Dataflow(PipelineDag(pipe.to_config(check_handlers=False)))
    for _ in range(5):
        run_id, ready = _start(store, flow, [1, 2, 3])
        for inst in ("0", "1"):
            assert sorted(ready) == [("e1", inst), ("e2", inst)]
            for node in ("e1", "e2"):
                assert store.claim_node(run_id, node, f"t-{node}", inst).claimed
            barrier = threading.Barrier(2)
            results: dict[str, list] = {}

            def finish(node: str, inst: str = inst, run_id: str = run_id, barrier: threading.Barrier = barrier,
                       results: dict[str, list] = results) -> None:
                plan, _ = flow.success_plan(node, inst, {"k": 1})
                barrier.wait()
                results[node] = store.finish_node(run_id, node, Status.SUCCESS, instance=inst, result={"k": 1},
                                                  plan=plan).dispatch

            threads = [threading.Thread(target=finish, args=(n,)) for n in ("e1", "e2")]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            ready = results["e1"] + results["e2"]
            nxt = str(int(inst) + 1)
            assert sorted(ready) == [("e1", nxt), ("e2", nxt)]  # released once: not lost, not twice
        assert store.node_statuses(run_id)["e1[2]"] == "QUEUED"


def test_dropped_instance_counts_toward_the_join_and_frees_its_slot(store: RunStore) -> None:
    flow = _flow(cap=1)
    run_id, _ = _start(store, flow, [1, 2])
    store.claim_node(run_id, "e1", "t", "0")
    out = store.finish_node(run_id, "e1", Status.SKIPPED, instance="0", summary="filtered out (returned None)",
                            plan=flow.drop_plan("e1", "0"))
    assert out.dispatch == []  # m[0] still waits for e2[0]
    store.claim_node(run_id, "e2", "t", "0")
    out = store.finish_node(run_id, "e2", Status.SKIPPED, instance="0", plan=flow.drop_plan("e2", "0"))
    assert out.dispatch == [("m", "0")]  # all its upstreams are done: the worker finds them all dropped
    assert flow.resolve("m", "0", store.row_results(run_id, flow.pred_pairs("m", "0"))).dropped
    store.claim_node(run_id, "m", "t", "0")
    out = store.finish_node(run_id, "m", Status.SKIPPED, instance="0", summary="filtered out (upstream dropped)",
                            plan=flow.drop_plan("m", "0"))
    # j counts the dropped instance, and instance 1 starts in the freed slot
    assert sorted(out.dispatch) == [("e1", "1"), ("e2", "1")]
    nodes = {(n["node"], n["instance"]): n for n in store.node_runs(run_id)}
    assert nodes[("m", "0")]["status"] == "SKIPPED" and nodes[("m", "0")]["error"] is None
    assert nodes[("m", "0")]["result_summary"] == "filtered out (upstream dropped)"


def test_failed_instance_reruns_alone_with_the_join(store: RunStore) -> None:
    flow = _flow(cap=None)
    run_id, _ = _start(store, flow, [1, 2])
    for inst in ("0", "1"):
        _finish(store, flow, run_id, "e1", inst)
    _finish(store, flow, run_id, "e2", "0")
    _finish(store, flow, run_id, "m", "0")
    store.claim_node(run_id, "e2", "t", "1")
    out = store.fail_node(run_id, "e2", "RuntimeError: x", "tb", (), instance="1", plan=flow.failure_plan("e2", "1"))
    assert out.run_status is Status.FAILED
    assert store.node_statuses(run_id)["j"] == "SKIPPED" and store.node_statuses(run_id)["m[1]"] == "SKIPPED"
    plan = flow.rerun_plan(store.node_states(run_id))
    assert plan == {("j", ""): 1, ("e2", "1"): 0, ("m", "1"): 1}
    assert store.restart_run(run_id, plan) == [("e2", "1")]
    run = store.get_run(run_id)
    assert run["status"] == "RUNNING" and run["attempt"] == 2 and run["nodes_left"] == 3 and run["error"] is None
    _finish(store, flow, run_id, "e2", "1")
    assert _finish(store, flow, run_id, "m", "1") == [("j", "")]

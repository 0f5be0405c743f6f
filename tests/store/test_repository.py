"""The run store on SQLite and PostgreSQL: guarded transitions, fan-in counters, redelivery, control."""
from __future__ import annotations

import threading
import uuid

import pytest

from pypeline.errors import InvalidTransitionError, NotFoundError
from pypeline.status import Status
from pypeline.store import RunStore
from pypeline.store.repository import CompletionOutcome, FinishPlan, NodeSpec


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> RunStore:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    return RunStore(url)


def _diamond(store: RunStore) -> str:
    """a -> b, a -> c, b -> d, c -> d."""
    run_id = str(uuid.uuid4())
    roots = store.create_run(run_id, "p", [NodeSpec("a", "h.a", "q", 0), NodeSpec("b", "h.b", "q", 1),
                                           NodeSpec("c", "h.c", "q", 1), NodeSpec("d", "h.d", "q", 2)],
                             leaves=["d"], payload={"x": 1})
    assert roots == ["a"]
    return run_id


def _complete(store: RunStore, run_id: str, node: str, result: object, successors: list[str]) -> CompletionOutcome:
    """Record a top-level node's success, counting one finished upstream off each successor."""
    plan = FinishPlan(release={(s, ""): 1 for s in successors})
    return store.finish_node(run_id, node, Status.SUCCESS, result=result, plan=plan)


def _statuses(store: RunStore, run_id: str) -> dict[str, str]:
    return store.node_statuses(run_id)


def test_happy_path_fan_out_fan_in(store: RunStore) -> None:
    run_id = _diamond(store)
    assert store.claim_node(run_id, "a", "t1").claimed
    out = _complete(store, run_id, "a", {"v": 1}, ["b", "c"])
    assert out.applied and sorted(out.ready) == ["b", "c"] and out.run_status is None
    for n in ("b", "c"):
        store.claim_node(run_id, n, f"t-{n}")
    assert _complete(store, run_id, "b", "B", ["d"]).ready == []
    assert _complete(store, run_id, "c", "C", ["d"]).ready == ["d"]
    assert store.upstream_results(run_id, ["b", "c"]) == {"b": "B", "c": "C"}
    store.claim_node(run_id, "d", "t-d")
    out = _complete(store, run_id, "d", {"done": True}, [])
    assert out.run_status is Status.SUCCESS
    run = store.get_run(run_id)
    assert run["status"] == "SUCCESS" and run["result"] == {"d": {"done": True}} and run["nodes_left"] == 0
    assert run["payload"] == {"x": 1} and run["finished_at"] is not None
    nodes = {n["node"]: n for n in store.node_runs(run_id)}
    assert nodes["a"]["attempts"] == 1 and nodes["a"]["result_summary"] == '{"v": 1}'
    assert all(n["duration"] is not None for n in nodes.values())


def test_redelivered_completion_releases_nothing_twice(store: RunStore) -> None:
    run_id = _diamond(store)
    store.claim_node(run_id, "a", "t1")
    assert _complete(store, run_id, "a", 1, ["b", "c"]).applied
    again = _complete(store, run_id, "a", 1, ["b", "c"])
    assert not again.applied and again.ready == [] and sorted(again.requeue) == ["b", "c"]
    claim = store.claim_node(run_id, "a", "t1")
    assert not claim.claimed and claim.status is Status.SUCCESS


def test_failure_skips_descendants_and_finishes_run(store: RunStore) -> None:
    run_id = _diamond(store)
    store.claim_node(run_id, "a", "t1")
    _complete(store, run_id, "a", 1, ["b", "c"])
    store.claim_node(run_id, "b", "tb")
    store.claim_node(run_id, "c", "tc")
    out = store.fail_node(run_id, "b", "ValueError: boom", "Traceback...", ["d"])
    assert out.applied and out.skipped == ["d"] and out.run_status is None  # c still running
    assert _complete(store, run_id, "c", 2, ["d"]).run_status is Status.FAILED
    run = store.get_run(run_id)
    assert run["status"] == "FAILED" and run["failed_node"] == "b" and run["error"] == "ValueError: boom"
    assert _statuses(store, run_id) == {"a": "SUCCESS", "b": "FAILED", "c": "SUCCESS", "d": "SKIPPED"}
    node_b = next(n for n in store.node_runs(run_id) if n["node"] == "b")
    assert node_b["traceback"] == "Traceback..."


def test_retry_then_success(store: RunStore) -> None:
    run_id = _diamond(store)
    store.claim_node(run_id, "a", "t1")
    assert store.retry_node(run_id, "a", "RuntimeError: x", "tb")
    claim = store.claim_node(run_id, "a", "t1")
    assert claim.claimed and claim.attempts == 2
    _complete(store, run_id, "a", 1, ["b", "c"])
    node_a = next(n for n in store.node_runs(run_id) if n["node"] == "a")
    assert node_a["retries"] == 1 and node_a["status"] == "SUCCESS" and node_a["error"] is None


def test_cancel_stops_unstarted_nodes(store: RunStore) -> None:
    run_id = _diamond(store)
    store.claim_node(run_id, "a", "task-a")
    assert store.cancel_run(run_id) == ["task-a"]
    assert set(_statuses(store, run_id).values()) == {"CANCELLED"}
    assert not store.claim_node(run_id, "b", "x").claimed
    assert not _complete(store, run_id, "a", 1, ["b", "c"]).applied
    assert store.get_run(run_id)["status"] == "CANCELLED"
    with pytest.raises(InvalidTransitionError):
        store.cancel_run(run_id)


def test_pause_holds_ready_nodes_until_resume(store: RunStore) -> None:
    run_id = _diamond(store)
    store.claim_node(run_id, "a", "t")
    store.pause_run(run_id)
    assert _complete(store, run_id, "a", 1, ["b", "c"]).ready == []
    assert store.get_run(run_id)["status"] == "PAUSED"
    assert sorted(store.resume_run(run_id)) == [("b", ""), ("c", "")]
    assert _statuses(store, run_id)["b"] == "QUEUED"


def test_rerun_from_failure_reruns_only_unfinished(store: RunStore) -> None:
    run_id = _diamond(store)
    store.claim_node(run_id, "a", "t")
    _complete(store, run_id, "a", 1, ["b", "c"])
    store.claim_node(run_id, "b", "t")
    store.claim_node(run_id, "c", "t")
    _complete(store, run_id, "c", 3, ["d"])
    store.fail_node(run_id, "b", "E", "tb", ["d"])
    assert store.get_run(run_id)["status"] == "FAILED"
    ready = store.restart_run(run_id, {("b", ""): 0, ("d", ""): 1})  # the engine's rerun plan: b failed, d skipped
    assert ready == [("b", "")]
    run = store.get_run(run_id)
    assert run["status"] == "RUNNING" and run["attempt"] == 2 and run["nodes_left"] == 2
    store.claim_node(run_id, "b", "t2")
    assert _complete(store, run_id, "b", 2, ["d"]).ready == ["d"]
    assert store.upstream_results(run_id, ["b", "c"]) == {"b": 2, "c": 3}
    store.claim_node(run_id, "d", "t3")
    assert _complete(store, run_id, "d", "ok", []).run_status is Status.SUCCESS


def test_fan_in_released_exactly_once_under_concurrency(store: RunStore) -> None:
    width = 40
    run_id = str(uuid.uuid4())
    specs = [NodeSpec("root", "h", "q", 0)] + [NodeSpec(f"m{i}", "h", "q", 1) for i in range(width)]
    specs.append(NodeSpec("join", "h", "q", width))
    store.create_run(run_id, "p", specs, leaves=["join"])
    store.claim_node(run_id, "root", "t")
    _complete(store, run_id, "root", 0, [f"m{i}" for i in range(width)])
    released: list[str] = []
    lock = threading.Lock()

    def finish(i: int) -> None:
        store.claim_node(run_id, f"m{i}", f"t{i}")
        out = _complete(store, run_id, f"m{i}", i, ["join"])
        with lock:
            released.extend(out.ready)

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(width)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert released == ["join"]
    assert len(store.upstream_results(run_id, [f"m{i}" for i in range(width)])) == width


def test_events_and_listing(store: RunStore) -> None:
    run_id = _diamond(store)
    store.add_event(run_id, "progress", {"pct": 50}, node="a")
    assert [e["name"] for e in store.events(run_id)] == ["progress"]
    items, total = store.list_runs(pipeline_id="p")
    assert total == 1 and items[0]["id"] == run_id
    assert store.list_runs(status="success")[1] == 0
    assert store.count_runs_by_status() == {"RUNNING": 1}
    with pytest.raises(NotFoundError):
        store.get_run("nope")
    with pytest.raises(NotFoundError):
        store.add_event("nope", "x")

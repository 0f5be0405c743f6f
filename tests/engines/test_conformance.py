"""One conformance suite for every engine in `Runtime(...).engines`, run by a real (in-process) Celery worker.

Common cases (chain, fan-out, fan-in, failure, retries) run on every engine; the event engine also runs
its dataflow features (split, filter, join_key, async, typed payloads) and run control (cancel, rerun,
pause/resume, custom events). Handlers are imported by path from `pypeline_examples`.
"""
from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pypeline.pipeline import Pipeline, build_config
from pypeline.runtime import Runtime
from pypeline.services import runs as run_service
from pypeline.services.invoke import invoke
from pypeline.settings import Settings
from pypeline_examples import dataflow as df
from tests.helpers import assert_stays, wait_until

EX = "pypeline_examples.dataflow"
DEMO = "pypeline_examples.demo"
ENGINES = sorted(Runtime(None, Settings(broker_url="memory://"), register=False).engines)
QUEUE = "QUEUE"
#: Redis database for these tests (tests/conftest.py flushes db 9 when any session starts).
REDIS_DB = 11


def common_pipelines(engine: str) -> list[Pipeline]:
    """Pipelines every engine must run identically."""
    opts: dict[str, Any] = {"engine": engine, "queue": QUEUE, "processor_queue": QUEUE, "max_retry": 0}
    return [
        Pipeline("chain", **opts).add_node("a", f"{EX}.trace").add_node("b", f"{EX}.trace")
        .add_node("c", f"{EX}.trace").chain("a", "b", "c"),
        Pipeline("fanout", **opts).add_node("root", f"{EX}.trace").add_node("x", f"{EX}.trace")
        .add_node("y", f"{EX}.trace").add_node("z", f"{EX}.trace")
        .add_edge("root", "x").add_edge("root", "y").add_edge("root", "z"),
        Pipeline("fanin", **opts).add_node("fetch", f"{DEMO}.fetch").add_node("clean", f"{DEMO}.clean")
        .add_node("enrich", f"{DEMO}.enrich").add_node("load", f"{DEMO}.load")
        .add_edge("fetch", "clean").add_edge("fetch", "enrich").add_edge("clean", "load").add_edge("enrich", "load"),
        Pipeline("failing", **opts).add_node("start", f"{EX}.trace").add_node("boom", f"{DEMO}.always_fails")
        .add_node("never", f"{EX}.trace").add_node("side", f"{EX}.trace")
        .add_edge("start", "boom").add_edge("boom", "never").add_edge("start", "side"),
        Pipeline("retrying", **{**opts, "max_retry": 2, "retry_backoff": 0})
        .add_node("flaky", f"{DEMO}.flaky").add_node("after", f"{EX}.trace").add_edge("flaky", "after"),
        Pipeline("events", **opts).add_node("emit", f"{EX}.emit_progress").add_node("read", f"{EX}.read_progress")
        .chain("emit", "read"),
    ]


def event_pipelines() -> list[Pipeline]:
    """Pipelines using the event engine's dataflow and run-control features."""
    opts: dict[str, Any] = {"queue": QUEUE, "max_retry": 0}
    return [
        Pipeline("split", **opts).add_node("nums", f"{EX}.numbers", split=True, split_concurrency=2)
        .add_node("nap", f"{EX}.sleepy").add_node("sq", f"{EX}.square").chain("nums", "sq")
        .add_edge("nums", "nap"),
        Pipeline("filtered", **opts).add_node("nums", f"{EX}.numbers", split=True)
        .add_node("even", f"{EX}.keep_even", filter=True).add_node("sq", f"{EX}.square")
        .add_node("join", f"{EX}.sum_by_parity", join_key="parity").chain("nums", "even", "sq", "join"),
        Pipeline("fanin_filter", **opts).add_node("start", f"{EX}.trace")
        .add_node("a", f"{EX}.from_payload", filter=True).add_node("b", f"{EX}.from_payload", filter=True)
        .add_node("merge", f"{EX}.trace").add_node("after", f"{EX}.trace")
        .add_edge("start", "a").add_edge("start", "b").add_edge("a", "merge").add_edge("b", "merge")
        .add_edge("merge", "after"),
        Pipeline("joined", **opts).add_node("nums", f"{EX}.numbers", split=True)
        .add_node("sq", f"{EX}.square_async").add_node("join", f"{EX}.sum_by_parity", join_key="parity")
        .add_node("after", f"{EX}.trace").chain("nums", "sq", "join", "after"),
        Pipeline("nested", **opts).add_node("outer", f"{EX}.numbers", split=True)
        .add_node("inner", f"{EX}.expand", split=True, split_concurrency=1).add_node("sq", f"{EX}.square")
        .add_node("by_parity", f"{EX}.collect", join_key="parity").add_node("all", f"{EX}.collect", join_key="kind")
        .chain("outer", "inner", "sq", "by_parity", "all"),
        Pipeline("typed", **{**opts, "max_retry": 2}).add_node("pyd", f"{EX}.describe_typed"),
        Pipeline("typed_dc", **{**opts, "max_retry": 2}).add_node("dc", f"{EX}.describe_dataclass"),
        Pipeline("orders", **opts).add_node("load_orders", f"{EX}.load_orders", split=True, split_concurrency=3)
        .add_node("validate_order", f"{EX}.validate_order", filter=True)
        .add_node("price_order", f"{EX}.price_order")
        .add_node("totals_by_customer", f"{EX}.totals_by_customer", join_key="customer.id")
        .add_node("publish_report", f"{EX}.publish_report")
        .chain("load_orders", "validate_order", "price_order", "totals_by_customer", "publish_report"),
        Pipeline("slow", **opts).add_node("nap", f"{EX}.sleepy").add_node("b", f"{EX}.trace")
        .add_node("c", f"{EX}.trace").chain("nap", "b", "c"),
        Pipeline("gated", **opts).add_node("a", f"{EX}.trace").add_node("gate", f"{EX}.fail_unless_file")
        .add_node("c", f"{EX}.trace").add_node("d", f"{EX}.trace").chain("a", "gate", "c").add_edge("a", "d"),
        Pipeline("gated_split", **opts).add_node("nums", f"{EX}.numbers", split=True, split_concurrency=2)
        .add_node("check", f"{EX}.fail_odd_unless_file").add_node("sq", f"{EX}.square")
        .add_node("join", f"{EX}.sum_by_parity", join_key="parity").chain("nums", "check", "sq", "join"),
    ]


@dataclasses.dataclass
class Env:
    """An engine's runtime with a live worker."""

    engine: str
    rt: Runtime

    def run(self, pipeline: str, payload: Any = None, timeout: float = 60.0) -> dict[str, Any]:
        """Invoke and wait; the run record with its node rows."""
        run_id = invoke(self.rt, pipeline, payload)
        self.rt.wait(run_id, timeout)
        return run_service.get_run(self.rt, run_id)

    def nodes(self, record: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """node[instance] -> node row."""
        return {n["node"] + (f"[{n['instance']}]" if n["instance"] else ""): n for n in record["nodes"]}


def _settings(home: Path, broker: str) -> Settings:
    settings = Settings(home=home, broker_url=broker, database_url=f"sqlite:///{home / 'store.sqlite'}")
    if "dyrygent_tick" in {f.name for f in dataclasses.fields(Settings)}:
        settings = dataclasses.replace(settings, dyrygent_tick=0.05)
    return settings


@pytest.fixture(scope="module", params=ENGINES)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Env]:
    """A runtime per engine with every conformance pipeline and an in-process 4-thread worker (Redis broker)."""
    engine: str = request.param
    pipelines = common_pipelines(engine)
    if engine == "event":
        pipelines += event_pipelines()
    queue = f"conformance-{engine}-{uuid.uuid4().hex[:8]}"
    for pipe in pipelines:
        pipe.metadata = {k: (queue if v == QUEUE else v) for k, v in pipe.metadata.items()}
    broker = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    rt = Runtime(build_config(pipelines), _settings(tmp_path_factory.mktemp(f"conformance-{engine}"), broker))
    with rt.embedded_worker(concurrency=4):
        yield Env(engine, rt)


#: The event engine's own features (other engines reject them when the config is validated).
EVENT_ONLY = pytest.mark.parametrize("env", ["event"], indirect=True)


def _trace(path: Path) -> Counter[str]:
    return Counter(line.split(" ", 1)[0] for line in path.read_text().splitlines()) if path.exists() else Counter()


# ------------------------------------------------------------------------------------------ common cases
def test_chain_passes_each_result_to_the_next_node(env: Env, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    record = env.run("chain", {"trace": str(trace)})
    assert record["status"] == "SUCCESS", record
    assert record["result"] == {"c": {"node": "c", "saw": ["b"]}}
    assert trace.read_text().split() == ["a", "ran", "b", "ran", "c", "ran"]
    assert [env.nodes(record)[n]["result"]["saw"] for n in "abc"] == [[], ["a"], ["b"]]


def test_fan_out_runs_every_branch_once(env: Env, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    record = env.run("fanout", {"trace": str(trace)})
    assert record["status"] == "SUCCESS"
    assert sorted(record["result"]) == ["x", "y", "z"]
    assert _trace(trace) == Counter({"root": 1, "x": 1, "y": 1, "z": 1})


def test_fan_in_gets_upstream_results_keyed_by_node(env: Env) -> None:
    record = env.run("fanin", {"count": 4})
    assert record["status"] == "SUCCESS"
    assert record["result"] == {"load": {"kept": 2, "total": 60, "inputs": ["clean", "enrich"]}}


def test_failure_fails_the_run_and_skips_descendants(env: Env, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    record = env.run("failing", {"trace": str(trace)})
    nodes = env.nodes(record)
    assert record["status"] == "FAILED"
    assert record["failed_node"] == "boom" and "always fails" in record["error"]
    assert nodes["boom"]["status"] == "FAILED" and "ValueError" in nodes["boom"]["error"]
    assert "Traceback" in nodes["boom"]["traceback"] and "always_fails" in nodes["boom"]["traceback"]
    assert nodes["never"]["status"] == "SKIPPED"
    assert nodes["side"]["status"] == "SUCCESS"
    assert "never" not in _trace(trace)


def test_retries_rerun_a_failing_node_until_it_succeeds(env: Env) -> None:
    record = env.run("retrying")
    flaky = env.nodes(record)["flaky"]
    assert record["status"] == "SUCCESS"
    assert flaky["result"] == "recovered" and flaky["attempts"] == 2 and flaky["retries"] == 1
    assert flaky["error"] is None and flaky["traceback"] is not None  # the failed attempt's traceback stays


@pytest.mark.parametrize("env", ["dyrygent"], indirect=True)
def test_dyrygent_retried_node_completes_20_times_in_a_row(env: Env) -> None:
    """Regression: the result backend could keep a retried node's first attempt RETRY over its SUCCESS (the
    retry is published before RETRY is stored), so the processor waited forever; it now reads the store."""
    for _ in range(20):
        record = env.run("retrying", timeout=30.0)
        assert record["status"] == "SUCCESS" and env.nodes(record)["flaky"]["attempts"] == 2, record


def test_nodes_emit_custom_events_seen_by_later_nodes_and_the_api(env: Env) -> None:
    record = env.run("events")
    assert record["status"] == "SUCCESS"
    assert record["result"] == {"read": [50, 100]}
    events = [e for e in run_service.run_events(env.rt, record["id"]) if e["name"] == "progress"]
    assert [(e["node"], e["data"]) for e in events] == [("emit", {"pct": 50}), ("emit", {"pct": 100})]


# -------------------------------------------------------------------------------------- event engine: data
@EVENT_ONLY
def test_split_runs_one_instance_per_element_under_the_concurrency_cap(env: Env, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    record = env.run("split", {"n": 5, "sleep": 0.15, "trace": str(trace)})
    assert record["status"] == "SUCCESS", record
    assert record["result"]["sq"] == {str(i): {"n": i, "sq": i * i, "parity": "odd" if i % 2 else "even"}
                                      for i in range(5)}
    assert sorted(record["result"]["nap"]) == ["0", "1", "2", "3", "4"]
    assert record["nodes_total"] == 1 + 5 * 2
    # splitConcurrency 2: never more than two instances between "start" and "end" at once
    active = peak = 0
    for line in trace.read_text().splitlines():
        active += 1 if line.endswith("start") else -1
        peak = max(peak, active)
    assert peak == 2 and trace.read_text().count("start") == 5


@EVENT_ONLY
def test_empty_split_finishes_with_no_instances(env: Env) -> None:
    record = env.run("joined", {"n": 0})
    assert record["status"] == "SUCCESS"
    assert env.nodes(record)["join"]["result"] == {}
    assert record["nodes_total"] == 3


@EVENT_ONLY
def test_filter_drops_instances_and_join_groups_the_rest(env: Env) -> None:
    record = env.run("filtered", {"n": 6})
    nodes = env.nodes(record)
    assert record["status"] == "SUCCESS"
    assert nodes["join"]["result"] == {"even": 0 + 4 + 16}
    assert nodes["even[1]"]["status"] == "SKIPPED" and nodes["even[1]"]["error"] is None
    assert nodes["sq[1]"]["status"] == "SKIPPED" and nodes["sq[1]"]["attempts"] == 0
    assert nodes["sq[2]"]["status"] == "SUCCESS"


@EVENT_ONLY
def test_all_instances_filtered_still_runs_the_join_with_no_groups(env: Env) -> None:
    record = env.run("filtered", {"n": 2})  # 0 passes
    assert env.nodes(record)["join"]["result"] == {"even": 0}
    record = env.run("filtered", {"n": 1})
    assert record["status"] == "SUCCESS" and env.nodes(record)["join"]["result"] == {"even": 0}


@EVENT_ONLY
def test_fan_in_runs_with_unfiltered_upstreams_and_is_skipped_when_all_are_dropped(env: Env,
                                                                                  tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    one = env.run("fanin_filter", {"a": 1, "trace": str(trace)})
    nodes = env.nodes(one)
    assert one["status"] == "SUCCESS"
    assert nodes["b"]["status"] == "SKIPPED" and nodes["b"]["attempts"] == 1  # ran, returned None
    assert nodes["merge"]["result"] == {"node": "merge", "saw": ["a"]}
    assert one["result"] == {"after": {"node": "after", "saw": ["merge"]}}
    trace.unlink()
    none = env.run("fanin_filter", {"trace": str(trace)})
    nodes = env.nodes(none)
    assert none["status"] == "SUCCESS" and none["result"] == {}
    assert [nodes[n]["status"] for n in ("a", "b", "merge", "after")] == ["SKIPPED"] * 4
    assert nodes["merge"]["error"] is None and nodes["merge"]["handler"].endswith("trace")
    assert _trace(trace) == Counter({"start": 1})  # merge and after never called their handlers


@EVENT_ONLY
def test_join_key_groups_async_instance_results(env: Env) -> None:
    record = env.run("joined", {"n": 5})
    nodes = env.nodes(record)
    assert record["status"] == "SUCCESS"
    assert nodes["join"]["result"] == {"even": 0 + 4 + 16, "odd": 1 + 9}
    assert nodes["sq[3]"]["result"]["loop"].endswith("EventLoop")
    assert record["result"] == {"after": {"node": "after", "saw": ["join"]}}


@EVENT_ONLY
def test_nested_splits_join_inner_then_outer(env: Env) -> None:
    record = env.run("nested", {"n": 3})
    nodes = env.nodes(record)
    assert record["status"] == "SUCCESS", record
    assert nodes["sq[2.1]"]["result"] == {"n": 21, "sq": 441, "parity": "odd"}
    assert nodes["by_parity[1]"]["result"]["groups"] == {
        "even": [{"n": 10, "sq": 100, "parity": "even"}], "odd": [{"n": 11, "sq": 121, "parity": "odd"}]}
    outer = nodes["all"]["result"]["groups"]["collected"]
    assert [sorted(g["groups"]) for g in outer] == [["even"], ["even", "odd"], ["even", "odd"]]
    assert sum(1 for n in record["nodes"] if n["node"] == "sq") == 1 + 2 + 3


@EVENT_ONLY
def test_orders_example_split_filter_async_typed_join(env: Env) -> None:
    record = env.run("orders", {"count": 7})
    assert record["status"] == "SUCCESS", record
    report = record["result"]["publish_report"]
    assert report == {"customers": 3, "grand_total": round(sum(i * 10 - 10 for i in range(2, 7)) * 1.2, 2),
                      "priced_events": 5}
    totals = env.nodes(record)["totals_by_customer"]["result"]
    assert totals["c2"]["orders"] == [2, 5]


@EVENT_ONLY
def test_typed_payloads_convert_and_a_mismatch_fails_without_retry(env: Env) -> None:
    good = env.run("typed", {"count": 3, "label": "apples", "x": 1})
    assert good["status"] == "SUCCESS"
    assert env.nodes(good)["pyd"]["result"] == "pyd: 3 apples"
    bad = env.run("typed", {"count": "many"})
    pyd = env.nodes(bad)["pyd"]
    assert bad["status"] == "FAILED"
    assert pyd["status"] == "FAILED" and pyd["attempts"] == 1 and pyd["retries"] == 0
    assert "NodeExecutionError" in pyd["error"] and "chain_payload.count" in pyd["error"]
    assert "TypedEvent" in pyd["error"] and "'many'" in pyd["error"]


@EVENT_ONLY
def test_dataclass_typed_payloads(env: Env) -> None:
    good = env.run("typed_dc", {"a": 1, "b": 3})
    assert good["status"] == "SUCCESS" and good["result"] == {"dc": "dc: 4"}
    bad = env.run("typed_dc", {"a": "x"})
    dc = env.nodes(bad)["dc"]
    assert bad["status"] == "FAILED" and dc["attempts"] == 1
    assert "DataclassEvent" in dc["error"] and "chain_payload.a" in dc["error"]


# ------------------------------------------------------------------------------- event engine: run control
@EVENT_ONLY
def test_cancel_stops_pending_nodes_and_ends_cancelled(env: Env, tmp_path: Path) -> None:
    rt, trace = env.rt, tmp_path / "trace"
    run_id = invoke(rt, "slow", {"sleep": 0.6, "trace": str(trace)})
    wait_until(lambda: rt.store.node_statuses(run_id).get("nap") == "RUNNING", interval=0.02)
    record = run_service.cancel_run(rt, run_id)
    assert record["status"] == "CANCELLED"
    # The running node (threads pool: not terminable) finishes; nothing after it starts.
    wait_until(lambda: _trace(trace)["nap"] == 2, interval=0.02, message="the running node's handler ended")
    assert_stays(lambda: "b" not in _trace(trace), 0.3, interval=0.02, message="no node starts after cancel")
    statuses = rt.store.node_statuses(run_id)
    assert statuses == {"nap": "CANCELLED", "b": "CANCELLED", "c": "CANCELLED"}
    assert rt.store.run_status(run_id).value == "CANCELLED"
    assert _trace(trace) == Counter({"nap": 2})  # start + end of the node that was running; b and c never ran
    assert [e["name"] for e in run_service.run_events(rt, run_id)] == ["cancelled"]


@EVENT_ONLY
def test_pause_holds_new_nodes_until_resume(env: Env, tmp_path: Path) -> None:
    rt, trace = env.rt, tmp_path / "trace"
    run_id = invoke(rt, "slow", {"sleep": 0.3, "trace": str(trace)})
    wait_until(lambda: rt.store.node_statuses(run_id).get("nap") == "RUNNING", interval=0.02)
    assert run_service.pause_run(rt, run_id)["status"] == "PAUSED"
    wait_until(lambda: rt.store.node_statuses(run_id)["nap"] == "SUCCESS", interval=0.02)
    assert_stays(lambda: rt.store.node_statuses(run_id)["b"] == "PENDING" and "b" not in _trace(trace), 0.3,
                 interval=0.02, message="a paused run starts no new node")
    assert rt.store.run_status(run_id).value == "PAUSED"
    run_service.resume_run(rt, run_id)
    record = run_service.wait_for_run(rt, run_id, 20)
    assert record["status"] == "SUCCESS" and _trace(trace) == Counter({"nap": 2, "b": 1, "c": 1})


@EVENT_ONLY
def test_rerun_from_failure_runs_only_failed_and_skipped_nodes(env: Env, tmp_path: Path) -> None:
    rt, trace, gate = env.rt, tmp_path / "trace", tmp_path / "gate"
    first = env.run("gated", {"trace": str(trace), "gate": str(gate)})
    assert first["status"] == "FAILED" and env.nodes(first)["c"]["status"] == "SKIPPED"
    df.touch(gate)
    run_service.retry_run(rt, first["id"])
    record = run_service.wait_for_run(rt, first["id"], 20)
    assert record["status"] == "SUCCESS" and record["attempt"] == 2
    assert _trace(trace) == Counter({"a": 1, "d": 1, "gate": 2, "c": 1})
    assert env.nodes(record)["c"]["result"] == {"node": "c", "saw": ["gate"]}


@EVENT_ONLY
def test_rerun_inside_a_split_reruns_only_failed_instances(env: Env, tmp_path: Path) -> None:
    rt, trace, gate = env.rt, tmp_path / "trace", tmp_path / "gate"
    first = env.run("gated_split", {"n": 5, "trace": str(trace), "gate": str(gate)})
    nodes = env.nodes(first)
    assert first["status"] == "FAILED"
    assert [nodes[f"check[{i}]"]["status"] for i in range(5)] == ["SUCCESS", "FAILED", "SUCCESS", "FAILED", "SUCCESS"]
    assert nodes["join"]["status"] == "SKIPPED" and nodes["sq[1]"]["status"] == "SKIPPED"
    df.touch(gate)
    run_service.retry_run(rt, first["id"])
    record = run_service.wait_for_run(rt, first["id"], 20)
    assert record["status"] == "SUCCESS"
    assert env.nodes(record)["join"]["result"] == {"even": 0 + 4 + 16, "odd": 1 + 9}
    assert _trace(trace) == Counter({"check[0]": 1, "check[2]": 1, "check[4]": 1, "check[1]": 2, "check[3]": 2})



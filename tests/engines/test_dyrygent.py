"""The dyrygent engine: workflow built from the DAG, tick policy, and real workers on Redis with PostgreSQL."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from billiard.exceptions import TimeLimitExceeded
from celery.canvas import Signature
from celery.exceptions import Retry
from celery.signals import task_failure

from pypeline.engines.dyrygent import PROCESSOR_TASK, DyrygentEngine, PypelineWorkflow
from pypeline.engines.runner import RECORDED_MARK
from pypeline.errors import InvalidInputError, StoreUnavailableError
from pypeline.runtime import Runtime
from pypeline.services.invoke import invoke
from pypeline.settings import Settings
from pypeline.status import Status
from pypeline.store.repository import FinishPlan
from pypeline.tasks.chained import CONTEXT_KEY
from tests.helpers import WorkerProcess, client_runtime, wait_until, worker_env

CONFIG = """
serviceConfig:
  - name: dyrygent-tests
    registeredTasks: []
pipelines:
  diamond:
    name: diamond
    schemaVersion: 1
    config:
      metadata: {queue: QUEUE, processorQueue: QUEUE-proc, engine: dyrygent, maxRetry: 0}
      dagAdjacency:
        a: [b, c]
        b: [c]
      taskDefinitions:
        a: {handler: pypeline_examples.demo.summarize}
        b: {handler: pypeline_examples.demo.summarize, priority: 3}
        c: {handler: pypeline_examples.demo.summarize, maxTtl: 30}
  demo:
    name: demo
    schemaVersion: 1
    config:
      metadata: {queue: QUEUE, processorQueue: QUEUE-proc, engine: dyrygent, maxRetry: 1, retryBackoff: 0}
      dagAdjacency:
        fetch: [clean, enrich]
        clean: [load]
        enrich: [load]
      taskDefinitions:
        fetch: {handler: pypeline_examples.demo.fetch}
        clean: {handler: pypeline_examples.demo.clean}
        enrich: {handler: pypeline_examples.demo.enrich}
        load: {handler: pypeline_examples.demo.load}
  failing:
    name: failing
    schemaVersion: 1
    config:
      metadata: {queue: QUEUE, processorQueue: QUEUE-proc, engine: dyrygent, maxRetry: 1, retryBackoff: 0}
      dagAdjacency:
        start: [boom, side]
        boom: [never]
      taskDefinitions:
        start: {handler: pypeline_examples.demo.summarize}
        boom: {handler: pypeline_examples.demo.always_fails}
        side: {handler: pypeline_examples.demo.summarize}
        never: {handler: pypeline_examples.demo.summarize}
  slow:
    name: slow
    schemaVersion: 1
    config:
      metadata: {queue: QUEUE, processorQueue: QUEUE-proc, engine: dyrygent, maxRetry: 0}
      dagAdjacency:
        nap: [after]
      taskDefinitions:
        nap: {handler: pypeline_examples.demo.slow}
        after: {handler: pypeline_examples.demo.summarize}
"""


def _config(tmp_path: Path) -> tuple[Path, str]:
    queue = f"dy-{tmp_path.name[-12:]}-{time.monotonic_ns() % 10**8}"
    path = tmp_path / "dyrygent.yaml"
    path.write_text(CONFIG.replace("QUEUE", queue))
    return path, queue


def _offline_runtime(tmp_path: Path) -> Runtime:
    config, _ = _config(tmp_path)
    settings = Settings(broker_url="memory://", database_url=f"sqlite:///{tmp_path / 's.sqlite'}", home=tmp_path)
    return Runtime.from_path(str(config), settings, register=False)


def _names(wf: PypelineWorkflow) -> dict[str, str]:
    return {tid: node.signature["kwargs"]["_pypeline"]["node"] for tid, node in wf.nodes.items()}


def test_workflow_is_built_from_the_dag_with_its_dependencies(tmp_path: Path) -> None:
    rt = _offline_runtime(tmp_path)
    engine = rt.engines["dyrygent"]
    assert isinstance(engine, DyrygentEngine) and PROCESSOR_TASK in rt.celery.tasks
    pipeline = rt.config.pipeline("diamond")
    wf = engine.build_workflow(pipeline, "run-1")
    names = _names(wf)
    deps = {names[tid]: sorted(names[d] for d in node.dependencies) for tid, node in wf.nodes.items()}
    assert deps == {"a": [], "b": ["a"], "c": ["a", "b"]}  # one node per DAG node: no chords, no regulators
    assert wf.workflow_options == {"queue": pipeline.processor_queue}
    for tid, node in wf.nodes.items():
        sig = node.signature
        assert type(sig) is Signature and sig.id == tid and sig.immutable
        assert sig["task"] == "pypeline_examples.demo.summarize"
        assert sig["kwargs"]["_pypeline"] == {"engine": "dyrygent", "run_id": "run-1", "pipeline_id": "diamond",
                                              "node": names[tid], "instance": ""}
        # The payload stays in the run store: dyrygent re-sends every signature on each tick.
        assert sig["kwargs"]["event"] == {"pipeline_id": "diamond", "execution_id": "run-1"}
        assert sig.options["queue"] == pipeline.queue
    by_name = {names[t]: n.signature.options for t, n in wf.nodes.items()}
    assert by_name["b"]["priority"] == 3 and "priority" not in by_name["a"]
    assert (by_name["c"]["soft_time_limit"], by_name["c"]["time_limit"]) == (30, 40)
    # dyrygent's simulation runs the diamond in three ticks: a, then b, then c (c exactly once).
    order = []
    while wf.simulate_tick():
        order.append(sorted(names[t] for t in wf.running))
    assert order == [["a"], ["b"], ["c"]]


def test_workflow_survives_serialisation_bound_to_its_app(tmp_path: Path) -> None:
    rt = _offline_runtime(tmp_path)
    engine = rt.engines["dyrygent"]
    wf = engine.build_workflow(rt.config.pipeline("demo"), "run-2")
    again = PypelineWorkflow.load(wf.to_dict(), app=rt.celery, processor=engine.processor)
    assert set(again.nodes) == set(wf.nodes)
    assert all(n.signature.app is rt.celery for n in again.nodes.values())
    assert {t: set(n.dependencies) for t, n in again.nodes.items()} == {
        t: set(n.dependencies) for t, n in wf.nodes.items()}


def test_processor_sees_node_states_from_the_store_not_the_result_backend(tmp_path: Path) -> None:
    """The retry-hang root cause: a retried node's first attempt may store RETRY after its second attempt
    stored SUCCESS (Celery publishes the retry before it records RETRY); the store is never overwritten."""
    rt = _offline_runtime(tmp_path)
    engine = rt.engines["dyrygent"]
    run_id = invoke(rt, "diamond")
    wf = engine.build_workflow(rt.config.pipeline("diamond"), run_id)
    wf = PypelineWorkflow.load(wf.to_dict(), app=rt.celery, processor=engine.processor)
    ids = {name: tid for tid, name in _names(wf).items()}
    assert {wf.nodes[t].signature.options["shadow"] for t in ids.values()} == {"diamond.a", "diamond.b", "diamond.c"}
    assert rt.store.claim_node(run_id, "a", ids["a"]).claimed
    assert rt.store.retry_node(run_id, "a", "RuntimeError: first attempt", "tb")
    assert rt.store.claim_node(run_id, "a", ids["a"]).claimed
    rt.store.finish_node(run_id, "a", Status.SUCCESS, result=1, plan=FinishPlan(release={("b", ""): 1}))
    rt.celery.backend.mark_as_retry(ids["a"], RuntimeError("first attempt, stored late"))  # the stale write
    states = wf.get_tasks_state(list(ids.values()))
    assert states[ids["a"]].is_done() and states[ids["a"]].is_successful() and states[ids["a"]].is_final()
    assert not states[ids["b"]].was_published() and not states[ids["c"]].is_done()  # QUEUED / PENDING
    wf.processing_limit_ts = time.time() + 60
    wf.running = {ids["a"]: 1}
    wf.tick()
    assert wf.finished == {ids["a"]: True} and set(wf.running) == {ids["b"]}


def test_processor_rides_out_a_store_outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = _offline_runtime(tmp_path)
    engine = rt.engines["dyrygent"]
    run_id = invoke(rt, "diamond")
    wf = engine.build_workflow(rt.config.pipeline("diamond"), run_id)
    wf.processing_limit_ts = time.time() + 60
    wf.running = {tid: 1 for tid, name in _names(wf).items() if name == "a"}

    def down(*_: Any, **__: Any) -> None:
        raise StoreUnavailableError("run store unavailable")

    monkeypatch.setattr(rt.store, "node_states", down)
    with pytest.raises(Retry):  # ticks again later instead of failing the workflow
        engine.processor.apply(kwargs={"workflow_dict": wf.to_dict()}, throw=True)
    monkeypatch.undo()
    assert rt.store.get_run(run_id)["status"] == "RUNNING"


def test_processor_error_fails_the_run_with_a_clear_error(tmp_path: Path) -> None:
    rt = _offline_runtime(tmp_path)
    engine = rt.engines["dyrygent"]
    run_id = invoke(rt, "diamond")
    wf = engine.build_workflow(rt.config.pipeline("diamond"), run_id)
    wf.processing_limit_ts = 1  # the workflow's processing limit has passed
    with pytest.raises(Exception, match="processed for too long"):
        engine.processor.apply(kwargs={"workflow_dict": wf.to_dict()}, throw=True)
    run = rt.store.get_run(run_id)
    assert run["status"] == "FAILED" and "workflow processor failed" in run["error"]
    assert {n["status"] for n in rt.store.node_runs(run_id)} == {"SKIPPED"}
    # A workflow that ends while its run is unfinished fails the run too (never left RUNNING).
    other = invoke(rt, "diamond")
    wf = engine.build_workflow(rt.config.pipeline("diamond"), other)
    wf.finished = {tid: False for tid in wf.nodes}
    wf.processing_limit_ts = time.time() + 60
    engine.processor.apply(kwargs={"workflow_dict": wf.to_dict()}, throw=True)
    assert rt.store.get_run(other)["status"] == "FAILED"
    assert "workflow ended but nodes never finished: a, b, c" in rt.store.get_run(other)["error"]


def test_tick_policy(tmp_path: Path) -> None:
    rt = _offline_runtime(tmp_path)
    assert rt.engines["dyrygent"].tick == 1.0  # PYPELINE_DYRYGENT_TICK default
    wf = PypelineWorkflow()
    wf.set_tick(3)
    assert wf.retry_policy == ["random", 3, 3] and wf.get_retry_countdown() == 3  # dyrygent's own policy
    wf._active_tick = True
    assert wf.get_retry_countdown() == 2  # dyrygent re-ticks within 2 s after publishing tasks
    wf.set_tick(0)
    assert wf.get_retry_countdown() == 0.0  # the fastest: re-tick at once
    wf.set_tick(0.25)
    wf._active_tick = False
    assert wf.get_retry_countdown() == pytest.approx(0.25)
    with pytest.raises(InvalidInputError, match="tick"):
        wf.set_tick(-1)


def test_run_control_it_cannot_do_is_refused(tmp_path: Path) -> None:
    engine = _offline_runtime(tmp_path).engines["dyrygent"]
    for action in (engine.pause, engine.resume, engine.rerun):
        with pytest.raises(InvalidInputError, match="dyrygent"):
            action("any-run")


def test_node_killed_by_hard_time_limit_is_failed_in_the_store(tmp_path: Path) -> None:
    """The worker's main process reports a hard time limit; the node the handler never finished is failed."""
    rt = _offline_runtime(tmp_path)
    engine = rt.engines["dyrygent"]
    run_id = invoke(rt, "diamond")  # published on the in-memory broker; nothing consumes it
    assert engine.workflow_ids(run_id)
    assert rt.store.claim_node(run_id, "a", "task-a").claimed
    ctx = {"engine": "dyrygent", "run_id": run_id, "pipeline_id": "diamond", "node": "a", "instance": ""}
    task_failure.send(sender=engine.processor, task_id="task-a", exception=TimeLimitExceeded(70),
                      kwargs={CONTEXT_KEY: ctx, "event": {}}, einfo=None)
    run = rt.store.get_run(run_id)
    assert run["status"] == "FAILED" and run["failed_node"] == "a" and "TimeLimitExceeded" in run["error"]
    assert {n["node"]: n["status"] for n in rt.store.node_runs(run_id)} == {
        "a": "FAILED", "b": "SKIPPED", "c": "SKIPPED"}
    # A failure the runner recorded (and re-raised) and a store outage are left alone by the signal.
    other = invoke(rt, "diamond")
    assert rt.store.claim_node(other, "a", "task-a2").claimed
    recorded = ValueError("boom")
    setattr(recorded, RECORDED_MARK, True)
    for exc in (recorded, StoreUnavailableError("store down")):
        task_failure.send(sender=engine.processor, task_id="task-a2", exception=exc,
                          kwargs={CONTEXT_KEY: {**ctx, "run_id": other}}, einfo=None)
    assert rt.store.get_run(other)["status"] == "RUNNING"
    # Another task's failure leaves a node claimed by a newer delivery alone ...
    task_failure.send(sender=engine.processor, task_id="older-task", exception=ValueError("boom"),
                      kwargs={CONTEXT_KEY: {**ctx, "run_id": other}}, einfo=None)
    assert rt.store.get_run(other)["status"] == "RUNNING"
    # ... but an unrecorded error that left the node RUNNING under this very task fails it.
    task_failure.send(sender=engine.processor, task_id="task-a2", exception=ValueError("escaped"),
                      kwargs={CONTEXT_KEY: {**ctx, "run_id": other}}, einfo=None)
    assert rt.store.get_run(other)["status"] == "FAILED" and "escaped" in rt.store.get_run(other)["error"]


# ---------------------------------------------------------------- real worker on Redis + PostgreSQL
def _nodes(rt: Runtime, run_id: str) -> dict[str, dict[str, Any]]:
    return {n["node"]: n for n in rt.store.node_runs(run_id)}


@pytest.fixture()
def dyrygent_worker(tmp_path: Path, redis_url: str, postgres_url: str,
                    start_worker: Callable[..., WorkerProcess]) -> tuple[Runtime, WorkerProcess]:
    """A `pypeline worker -c 2` on Redis consuming the node and processor queues, and a client runtime."""
    config, _ = _config(tmp_path)
    home = tmp_path / "home"
    worker = start_worker(config, "-c", "2", env=worker_env(redis_url, postgres_url, home))
    return client_runtime(config, redis_url, postgres_url, home, dyrygent_tick=0.2), worker


@pytest.mark.e2e
def test_real_worker_runs_dyrygent_pipelines_with_full_records(dyrygent_worker: tuple[Runtime, WorkerProcess]) -> None:
    rt, _ = dyrygent_worker
    demo, diamond, failing = invoke(rt, "demo", {"count": 4}), invoke(rt, "diamond"), invoke(rt, "failing")

    run = rt.wait(demo, 60)
    assert run["status"] == "SUCCESS" and run["engine"] == "dyrygent", run
    assert run["result"] == {"load": {"inputs": ["clean", "enrich"], "kept": 2, "total": 60}}
    nodes = _nodes(rt, demo)
    assert all(n["status"] == "SUCCESS" and n["attempts"] == 1 and n["started_at"] and n["finished_at"]
               and n["task_id"] for n in nodes.values())
    assert nodes["fetch"]["result"] == {"records": [{"id": i, "value": i * 10} for i in range(4)]}
    workflow = rt.store.events(demo, "dyrygent.workflow")
    assert len(workflow) == 1 and workflow[0]["data"]["tick"] == 0.2
    assert rt.celery.AsyncResult(workflow[0]["data"]["workflow_id"]).get(timeout=10) is None  # processor done

    run = rt.wait(diamond, 60)
    assert run["status"] == "SUCCESS" and run["result"] == {"c": {"node": "c", "saw": ["a", "b"]}}
    nodes = _nodes(rt, diamond)
    assert [nodes[n]["attempts"] for n in "abc"] == [1, 1, 1]  # c ran exactly once ...
    assert datetime.fromisoformat(nodes["c"]["started_at"]) >= datetime.fromisoformat(nodes["b"]["finished_at"])

    run = rt.wait(failing, 60)
    assert run["status"] == "FAILED" and run["failed_node"] == "boom", run
    assert "ValueError: node boom always fails" in run["error"]
    nodes = _nodes(rt, failing)
    assert {k: v["status"] for k, v in nodes.items()} == {
        "start": "SUCCESS", "boom": "FAILED", "side": "SUCCESS", "never": "SKIPPED"}
    assert nodes["boom"]["retries"] == 1 and nodes["boom"]["attempts"] == 2  # maxRetry: 1
    assert "Traceback" in nodes["boom"]["traceback"] and nodes["never"]["attempts"] == 0
    # The Celery task state tells the truth too: the recorded final failure was re-raised.
    boom = rt.celery.AsyncResult(nodes["boom"]["task_id"])
    assert boom.state == "FAILURE" and "always fails" in str(boom.result)
    assert rt.celery.AsyncResult(nodes["start"]["task_id"]).state == "SUCCESS"


@pytest.mark.e2e
def test_cancel_revokes_the_running_node_and_stops_the_workflow(
        dyrygent_worker: tuple[Runtime, WorkerProcess]) -> None:
    rt, worker = dyrygent_worker
    run_id = invoke(rt, "slow", {"sleep": 5})
    wait_until(lambda: rt.store.node_statuses(run_id).get("nap") == "RUNNING", message="node nap started")
    rt.engines["dyrygent"].cancel(run_id)
    assert rt.store.get_run(run_id)["status"] == "CANCELLED"
    workflow_id = rt.engines["dyrygent"].workflow_ids(run_id)[0]
    wait_until(lambda: rt.celery.AsyncResult(workflow_id).state == "REVOKED", 20, interval=0.1,
               message="processor revoked", report=lambda: str(rt.celery.AsyncResult(workflow_id).state))
    worker.wait_for_log("Discarding revoked task", timeout=20)
    nodes = _nodes(rt, run_id)
    assert nodes["nap"]["status"] == "CANCELLED" and nodes["after"]["status"] == "CANCELLED"
    assert nodes["after"]["attempts"] == 0

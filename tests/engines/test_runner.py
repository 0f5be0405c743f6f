"""The one node lifecycle (engines/runner.py): claim, call, record, retry or fail, hand on; store and broker faults."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from billiard.exceptions import TimeLimitExceeded
from celery.exceptions import Reject, Retry
from celery.signals import task_failure
from kombu.exceptions import OperationalError as KombuOperationalError

from pypeline.engines.runner import NodeRef, display_name, is_recorded
from pypeline.errors import NodeExecutionError, NodeResultError, StoreUnavailableError
from pypeline.pipeline import Pipeline, build_config
from pypeline.runtime import Runtime
from pypeline.services.invoke import invoke
from pypeline.settings import Settings
from pypeline.status import Status
from pypeline.store import hotpath, leases
from pypeline.store.models import utcnow
from pypeline.tasks.chained import CONTEXT_KEY

H = "pypeline_examples.demo.summarize"


class StubTask:
    """What the runner uses of a Celery task: the request, `call` and `retry`."""

    def __init__(self, fn: Any, task_id: str = "task-1", retries: int = 0) -> None:
        self.fn = fn
        self.request = SimpleNamespace(id=task_id, retries=retries, called_directly=False)
        self.retried: tuple[float, int] | None = None
        self.broker_down = False

    def call(self, event: dict[str, Any]) -> Any:
        return self.fn(event)

    def retry(self, exc: BaseException, countdown: float, max_retries: int, **options: Any) -> Retry:
        self.retried = (countdown, max_retries)
        assert options["retry_policy"]["max_retries"] > 3  # publishing the retry rides through broker blips
        if self.broker_down:
            raise Reject(KombuOperationalError("Connection refused"), requeue=False)  # what Celery does
        return Retry(exc=exc, when=countdown)


class _Sender:
    """A task-like signal sender (signals need a hashable sender with an `app`)."""

    def __init__(self, runtime: Runtime) -> None:
        self.app = runtime.celery


@pytest.fixture()
def rt(tmp_path: Path) -> Runtime:
    opts: dict[str, Any] = {"queue": "runner-tests", "max_retry": 1, "retry_backoff": 0}
    pipelines = [
        Pipeline("chain", **opts).add_node("a", H).add_node("b", H).add_edge("a", "b"),
        Pipeline("filtered", **opts).add_node("a", H, filter=True).add_node("b", H).add_edge("a", "b"),
        Pipeline("dy", **{**opts, "engine": "dyrygent", "processor_queue": "runner-tests"})
        .add_node("a", H).add_node("b", H).add_edge("a", "b"),
    ]
    settings = Settings(broker_url="memory://", database_url=f"sqlite:///{tmp_path / 's.sqlite'}", home=tmp_path,
                        store_retry_seconds=0.2)
    return Runtime(build_config(pipelines), settings, register=False)


def _ctx(rt: Runtime, pipeline: str, node: str = "a") -> dict[str, Any]:
    run_id = invoke(rt, pipeline, {"n": 1})
    return {"engine": rt.config.pipeline(pipeline).engine, "run_id": run_id, "pipeline_id": pipeline, "node": node,
            "instance": ""}


def _run(rt: Runtime, ctx: dict[str, Any], task: StubTask) -> Any:
    return rt.runner(ctx["engine"]).run_node(task, ctx, {"chain_payload": {"n": 1}})  # type: ignore[arg-type]


def _nodes(rt: Runtime, run_id: str) -> dict[str, dict[str, Any]]:
    return {n["node"]: n for n in rt.store.node_runs(run_id)}


def test_node_ref_and_display_name() -> None:
    ref = NodeRef.of({"run_id": "r", "pipeline_id": "p", "node": "n", "instance": "0.1"})
    assert ref == NodeRef("r", "p", "n", "0.1") and ref.label == "n[0.1]"
    assert NodeRef.of({"run_id": "r", "pipeline_id": "p", "node": "n"}).label == "n"
    assert display_name("etl", "load") == "etl.load"


@pytest.mark.parametrize("pipeline", ["chain", "dy"])
def test_success_is_recorded_and_successor_released(rt: Runtime, pipeline: str) -> None:
    ctx = _ctx(rt, pipeline)
    assert _run(rt, ctx, StubTask(lambda e: {"saw": e["chain_payload"]})) == {"saw": {"n": 1}}
    nodes = _nodes(rt, ctx["run_id"])
    assert nodes["a"]["status"] == "SUCCESS" and nodes["a"]["result"] == {"saw": {"n": 1}}
    assert nodes["b"]["status"] == "QUEUED"


@pytest.mark.parametrize("pipeline", ["chain", "dy"])
def test_one_retry_decision_then_final_failure_is_recorded_and_reraised(rt: Runtime, pipeline: str) -> None:
    ctx = _ctx(rt, pipeline)

    def boom(_: Any) -> None:
        raise ValueError("boom")

    first = StubTask(boom)
    with pytest.raises(Retry):
        _run(rt, ctx, first)
    assert first.retried == (0.0, 1)
    node = _nodes(rt, ctx["run_id"])["a"]
    assert node["status"] == "RETRYING" and node["retries"] == 1 and "ValueError: boom" in node["error"]
    with pytest.raises(ValueError, match="boom") as err:  # the task ends in FAILURE after the store recorded it
        _run(rt, ctx, StubTask(boom, retries=1))
    assert is_recorded(err.value)
    nodes = _nodes(rt, ctx["run_id"])
    assert nodes["a"]["status"] == "FAILED" and nodes["b"]["status"] == "SKIPPED"
    run = rt.store.get_run(ctx["run_id"])
    assert run["status"] == "FAILED" and run["failed_node"] == "a"
    # The re-raised failure reaches the one task_failure handler, which leaves the recorded node alone.
    task_failure.send(sender=_Sender(rt), task_id="task-1", exception=err.value,
                      kwargs={CONTEXT_KEY: ctx}, einfo=None)
    assert _nodes(rt, ctx["run_id"])["a"]["error"] == "ValueError: boom"


def test_nan_result_is_a_clear_node_error_that_follows_the_retry_policy(rt: Runtime) -> None:
    ctx = _ctx(rt, "chain")
    first = StubTask(lambda _: {"score": math.nan})
    with pytest.raises(Retry):
        _run(rt, ctx, first)
    assert "NaN and Infinity are not JSON" in _nodes(rt, ctx["run_id"])["a"]["error"]
    with pytest.raises(NodeResultError):
        _run(rt, ctx, StubTask(lambda _: [math.inf], retries=1))
    node = _nodes(rt, ctx["run_id"])["a"]
    assert node["status"] == "FAILED" and node["retries"] == 1
    assert node["error"] == "NodeResultError: node result is not JSON-serialisable: NaN and Infinity are not JSON"
    assert rt.store.get_run(ctx["run_id"])["status"] == "FAILED"


def test_a_rejected_input_fails_without_retry(rt: Runtime) -> None:
    ctx = _ctx(rt, "chain")

    def bad(_: Any) -> None:
        raise NodeExecutionError("cannot validate events as Order")

    task = StubTask(bad)
    with pytest.raises(NodeExecutionError):
        _run(rt, ctx, task)
    assert task.retried is None and _nodes(rt, ctx["run_id"])["a"]["status"] == "FAILED"


@pytest.mark.parametrize("operation", ["claim_node", "finish_node", "retry_node", "fail_node"])
def test_store_down_requeues_the_message_and_never_fails_the_node(rt: Runtime, monkeypatch: pytest.MonkeyPatch,
                                                                  operation: str) -> None:
    ctx = _ctx(rt, "chain")
    calls: list[str] = []

    def down(*_: Any, **__: Any) -> None:
        calls.append(operation)
        raise StoreUnavailableError("run store unavailable: connection refused")

    def boom(_: Any) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(rt.store, operation, down)
    retries = 1 if operation == "fail_node" else 0
    handler = boom if operation in ("retry_node", "fail_node") else (lambda _: "ok")
    with pytest.raises(Reject) as err:
        _run(rt, ctx, StubTask(handler, retries=retries))
    assert err.value.requeue and calls == [operation]
    monkeypatch.undo()
    node = _nodes(rt, ctx["run_id"])["a"]
    assert node["status"] == ("QUEUED" if operation == "claim_node" else "RUNNING")  # not FAILED: redelivered
    assert rt.store.get_run(ctx["run_id"])["status"] == "RUNNING"


def test_redelivery_after_a_lost_finish_reply_still_hands_on(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The finish committed, the reply was lost, the store retried: the successor is still published."""
    ctx = _ctx(rt, "chain")
    store = rt.store
    real_finish = store.finish_node
    sent: list[Any] = []

    def finish_twice(*args: Any, **kwargs: Any) -> Any:
        real_finish(*args, **kwargs)  # this attempt's commit landed ...
        return real_finish(*args, **kwargs)  # ... and the retry sees it

    monkeypatch.setattr(store, "finish_node", finish_twice)
    monkeypatch.setattr(rt.engines["event"], "dispatch", lambda *a, **k: sent.append(a[2]))
    assert _run(rt, ctx, StubTask(lambda _: 1)) == 1
    assert sent == [[("b", "")]]
    assert _nodes(rt, ctx["run_id"])["b"]["status"] == "QUEUED"


def test_publish_failure_after_recording_is_not_a_node_failure(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _ctx(rt, "chain")

    def broker_down(*_: Any, **__: Any) -> None:
        raise KombuOperationalError("Error 111 connecting to localhost:6390. Connection refused.")

    monkeypatch.setattr(rt.engines["event"], "dispatch", broker_down)
    assert _run(rt, ctx, StubTask(lambda _: "done")) == "done"
    nodes = _nodes(rt, ctx["run_id"])
    assert nodes["a"]["status"] == "SUCCESS" and nodes["b"]["status"] == "QUEUED"  # recovery re-publishes b


def test_hard_time_limit_fails_a_running_node_through_the_one_signal_handler(rt: Runtime) -> None:
    ctx = _ctx(rt, "chain")
    assert rt.store.claim_node(ctx["run_id"], "a", "task-9").claimed
    task_failure.send(sender=_Sender(rt), task_id="task-9", exception=TimeLimitExceeded(30),
                      kwargs={CONTEXT_KEY: ctx}, einfo=None)
    nodes = _nodes(rt, ctx["run_id"])
    assert nodes["a"]["status"] == "FAILED" and "hard time limit (30 s)" in nodes["a"]["error"]
    assert nodes["b"]["status"] == "SKIPPED"


def test_redelivered_finished_node_republishes_queued_successors(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _ctx(rt, "chain")
    _run(rt, ctx, StubTask(lambda _: 1))
    sent: list[Any] = []
    monkeypatch.setattr(rt.engines["event"], "dispatch", lambda *a, **k: sent.append(a[2]))
    task = StubTask(lambda _: pytest.fail("a finished node must not run again"), task_id="task-1")
    assert _run(rt, ctx, task) is None
    assert sent == [[("b", "")]]


def test_a_retry_that_cannot_be_published_is_requeued_not_dropped(rt: Runtime) -> None:
    ctx = _ctx(rt, "chain")

    def boom(_: Any) -> None:
        raise ValueError("boom")

    task = StubTask(boom)
    task.broker_down = True
    with pytest.raises(Reject) as err:
        _run(rt, ctx, task)
    assert err.value.requeue  # Celery would drop it (requeue=False) and strand the RETRYING node
    assert _nodes(rt, ctx["run_id"])["a"]["status"] == "RETRYING"


def test_node_messages_carry_a_display_name_and_a_publish_retry_policy(rt: Runtime,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(rt.celery, "send_task", lambda name, **options: sent.append({"name": name, **options}))
    invoke(rt, "chain")
    assert len(sent) == 1 and sent[0]["name"] == H and sent[0]["shadow"] == "chain.a"
    assert sent[0]["retry"] is True and sent[0]["retry_policy"]["max_retries"] >= 10  # ~30 s of reconnects


def test_a_filter_drop_is_recorded_and_a_store_outage_while_dropping_requeues(
        rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _ctx(rt, "filtered")
    monkeypatch.setattr(rt.store, "finish_node", lambda *a, **k: (_ for _ in ()).throw(StoreUnavailableError("down")))
    with pytest.raises(Reject) as err:
        _run(rt, ctx, StubTask(lambda _: None))
    assert err.value.requeue and _nodes(rt, ctx["run_id"])["a"]["status"] == "RUNNING"  # not FAILED
    monkeypatch.undo()
    # The rejected task left the worker: its heartbeat expires the lease, so the redelivery may claim the node.
    assert leases.release(rt.store.engine, ["task-1"]) == 1
    assert _run(rt, ctx, StubTask(lambda _: None)) is None
    nodes = _nodes(rt, ctx["run_id"])
    assert nodes["a"]["status"] == "SKIPPED" and nodes["a"]["result_summary"] == "filtered out (returned None)"
    assert nodes["b"]["status"] == "SKIPPED" and rt.store.get_run(ctx["run_id"])["status"] == "SUCCESS"


def returns_nan(event: dict[str, Any]) -> dict[str, float]:
    """A handler whose result is not strict JSON."""
    return {"score": math.nan}


def test_nan_result_on_a_real_worker_fails_clearly_after_its_retries(tmp_path: Path) -> None:
    """Probe 3: NaN used to reach PostgreSQL as a raw DataError, skipping the node's retry policy."""
    pipeline = Pipeline("nanp", queue="nan-tests", max_retry=1, retry_backoff=0) \
        .add_node("a", f"{__name__}.returns_nan").add_node("b", H).add_edge("a", "b")
    rt = Runtime(build_config([pipeline]), Settings(home=tmp_path / "home",
                                                    database_url=f"sqlite:///{tmp_path / 's.sqlite'}"))
    with rt.embedded_worker(concurrency=1, queues=["nan-tests"]):
        record = rt.wait(invoke(rt, "nanp", {}), 30)
    nodes = _nodes(rt, record["id"])
    assert record["status"] == "FAILED" and record["failed_node"] == "a"
    assert nodes["a"]["attempts"] == 2 and nodes["a"]["retries"] == 1
    assert nodes["a"]["error"] == "NodeResultError: node result is not JSON-serialisable: NaN and Infinity are not JSON"
    assert nodes["b"]["status"] == "SKIPPED"


def test_redelivery_settles_a_run_whose_finalisation_was_lost(rt: Runtime) -> None:
    """The state a worker crash leaves between the one-statement completion and the run's finalisation."""
    ctx = _ctx(rt, "chain")
    _run(rt, ctx, StubTask(lambda e: 1))
    store = rt.store
    assert store.claim_node(ctx["run_id"], "b", "task-b").claimed
    with store.engine.begin() as conn:  # the completion lands, the finalisation never does
        fast = hotpath.finish_sqlite(conn, ctx["run_id"], "b", "", Status.SUCCESS, 2, None, "2", {}, utcnow())
    assert fast.ends_run and store.get_run(ctx["run_id"])["status"] == "RUNNING"
    assert _run(rt, {**ctx, "node": "b"}, StubTask(lambda e: pytest.fail("a finished node ran again"),
                                                    task_id="task-b")) is None
    run = store.get_run(ctx["run_id"])
    assert run["status"] == "SUCCESS" and run["result"] == {"b": 2}


class _GenerationFailure(NodeExecutionError):
    """A retryable failure bound to the node's recorded retry count (what a sub-pipeline node raises)."""

    retryable = True

    def __init__(self, generation: int) -> None:
        super().__init__(f"outcome of generation {generation} failed")
        self.generation = generation


def _fails_at(generation: int) -> Any:
    def handler(_: Any) -> None:
        raise _GenerationFailure(generation)
    return handler


def test_a_generation_bound_failure_counts_retries_from_the_store_not_the_message(rt: Runtime) -> None:
    ctx = _ctx(rt, "chain")
    with pytest.raises(Retry):
        _run(rt, ctx, StubTask(_fails_at(0)))
    assert _nodes(rt, ctx["run_id"])["a"]["retries"] == 1
    # A copy of the message sent at retry count 0 completes generation 1: the budget (maxRetry 1) is spent.
    stale = StubTask(_fails_at(1), task_id="task-2", retries=0)
    with pytest.raises(_GenerationFailure):
        _run(rt, ctx, stale)
    assert stale.retried is None and stale.request.retries == 1
    node = _nodes(rt, ctx["run_id"])["a"]
    assert (node["status"], node["retries"]) == ("FAILED", 1) and "generation 1" in node["error"]


def test_a_generation_bound_failure_grants_one_retry_however_many_deliveries_report_it(rt: Runtime) -> None:
    ctx = _ctx(rt, "chain")
    with pytest.raises(Retry):
        _run(rt, ctx, StubTask(_fails_at(0)))
    # A second delivery past its claim reports generation 0 again (a lease that expired under load): no retry,
    # no failure; the node is left to the delivery of its current generation.
    late = StubTask(_fails_at(0), task_id="task-2")
    assert _run(rt, ctx, late) is None and late.retried is None
    node = _nodes(rt, ctx["run_id"])["a"]
    assert (node["status"], node["retries"]) == ("RUNNING", 1)
    assert rt.store.get_run(ctx["run_id"])["status"] == "RUNNING"

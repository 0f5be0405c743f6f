"""The dyrygent engine: the original's orchestration, a celery-dyrygent Workflow built straight from the DAG.

The client builds one dyrygent `Workflow` per run (one signature per node, dependencies = the node's upstream
nodes; no chords, no regulator tasks) and sends it to the `workflow-processor` task. That task polls the
Celery result backend every tick and publishes each node once all its dependencies succeeded. Node tasks run
through `DyrygentNodeRunner`, which records every transition in the run store exactly like the event-driven
engine, but never publishes anything itself: dyrygent does. Choose it with `engine: dyrygent` in a
pipeline's `config.metadata`; split/filter/joinKey and pause/resume/rerun are not available on it.

The seconds between processor ticks (`PYPELINE_DYRYGENT_TICK`, default 1; 0 re-ticks at once) travel inside
the workflow, so the process that starts a run decides them. dyrygent's own default (10-30 s) is not used.
"""
from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any

from celery import Celery, Task
from celery.canvas import Signature
from celery_dyrygent.celery.inspect import ResultState
from celery_dyrygent.workflows import Workflow

from pypeline.config.model import NodeConfig, PipelineConfig
from pypeline.engines import signals  # noqa: F401 - connects the one task_failure handler of node messages
from pypeline.engines.base import Engine
from pypeline.engines.runner import NodeInputs, NodeRef, NodeRunner, Pair, display_name
from pypeline.errors import InvalidInputError, NodeExecutionError, StoreError
from pypeline.status import Status
from pypeline.store.repository import ClaimOutcome, CompletionOutcome, FinishPlan, NodeSpec
from pypeline.tasks.app import runtime_of
from pypeline.tasks.chained import CONTEXT_KEY

__all__ = ["DyrygentEngine", "DyrygentNodeRunner", "PypelineWorkflow", "register_processor", "PROCESSOR_TASK",
           "WORKFLOW_EVENT"]

log = logging.getLogger(__name__)

#: Task name of the workflow processor (the same name `celery_dyrygent.tasks.register_workflow_processor` uses).
PROCESSOR_TASK = "workflow-processor"
#: Run event recording the workflow processor's task id (what cancel revokes).
WORKFLOW_EVENT = "dyrygent.workflow"
#: dyrygent never waits longer than this after a tick that published tasks.
_ACTIVE_TICK_CAP = 2.0


class PypelineWorkflow(Workflow):  # type: ignore[misc]  # celery-dyrygent ships no type information
    """A dyrygent Workflow bound to one Celery app, with fractional tick policies.

    Stock dyrygent resolves task results and node signatures through Celery's *current* app and accepts
    only whole seconds (>= 1) between ticks; this subclass uses its own app and accepts any tick >= 0.
    """

    #: dyrygent's tick policy: `[name, low, high]` (whole seconds for dyrygent's own, fractions for ours).
    retry_policy: list[str | float]

    def __init__(self, options: dict[str, Any] | None = None, *, app: Celery | None = None,
                 processor: Task | None = None) -> None:
        super().__init__(options)
        self.app = app
        if processor is not None:
            self.workflow_processor_task = processor  # per instance: several apps may live in one process

    def set_tick(self, seconds: float) -> None:
        """Seconds between processor ticks (whole seconds use dyrygent's own policy, fractions ours)."""
        if seconds < 0:
            raise InvalidInputError(f"dyrygent tick must be >= 0 seconds, got {seconds}")
        if seconds >= 1 and float(seconds).is_integer():
            self.set_retry_policy("random", int(seconds), int(seconds))
        else:
            self.retry_policy = ["random", float(seconds), float(seconds)]

    def get_retry_countdown(self) -> float:
        """Seconds until the next tick: the policy's value, at most 2 s after a tick that published tasks."""
        _, low, high = self.retry_policy
        if isinstance(low, int) and isinstance(high, int):
            value: float = random.randint(low, high)
        else:
            value = random.uniform(float(low), float(high))
        return min(value, _ACTIVE_TICK_CAP) if self._active_tick else value

    @property
    def run_id(self) -> str | None:
        """The Pypeline run this workflow drives."""
        run_id = self.custom_payload.get("run_id")
        first = next(iter(self.nodes.values()), None)
        if run_id is None and first is not None:  # serialised before the run id was kept: ask a node's context
            run_id = dict(first.signature).get("kwargs", {}).get(CONTEXT_KEY, {}).get("run_id")
        return None if run_id is None else str(run_id)

    def get_tasks_state(self, task_ids: Any) -> dict[str, ResultState]:
        """Node states read from the run store (the truth), not from the result backend.

        The backend can lie about a retried node: its first attempt publishes the retry under the same
        task id and only then stores RETRY, so a fast second attempt's SUCCESS may be overwritten by the
        first attempt's RETRY, and the processor then waits for that node forever.
        """
        runtime = runtime_of(self.app)
        run_id = self.run_id
        if runtime is None or run_id is None:
            if self.app is None:
                backend_states: dict[str, ResultState] = super().get_tasks_state(task_ids)
                return backend_states
            return {task_id: ResultState(self.app.AsyncResult(task_id)) for task_id in task_ids}
        ids = list(task_ids)
        if not ids:
            return {}
        statuses = {node: Status(status) for node, instance, status, _ in runtime.store.node_states(run_id)
                    if not instance}
        out: dict[str, ResultState] = {}
        for task_id in ids:
            name = dict(self.nodes[task_id].signature)["kwargs"][CONTEXT_KEY]["node"]
            out[task_id] = StoredState(statuses.get(name, Status.PENDING))
        return out

    @classmethod
    def load(cls, workflow_dict: dict[str, Any], *, app: Celery, processor: Task) -> PypelineWorkflow:
        """Rebuild a workflow from its serialised form, with every node signature bound to `app`."""
        wf: PypelineWorkflow = cls.from_dict(workflow_dict)
        wf.app = app
        wf.workflow_processor_task = processor
        for node in wf.nodes.values():
            node.signature = Signature.from_dict(dict(node.signature), app=app)
        return wf


class StoredState(ResultState):  # type: ignore[misc]  # celery-dyrygent ships no type information
    """dyrygent's view of one node task, built from the node's status in the run store."""

    def __init__(self, status: Status) -> None:  # noqa: D107 - no backend lookup, unlike ResultState
        self.result = _StoredResult(status.value)
        self.success = status is Status.SUCCESS
        self.done = status.is_terminal
        if self.done:
            self.state = self.DONE
        elif status in (Status.PENDING, Status.QUEUED):
            self.state = self.INIT  # not started: unpublished, or published and waiting in its queue
        else:
            self.state = self.RUNNING


class _StoredResult:
    """The two attributes dyrygent reads off a task result."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.result = None


def _fail_run(app: Celery, wf: PypelineWorkflow, error: str) -> None:
    """End the workflow's run FAILED (the processor broke or ended without the run finishing)."""
    runtime = runtime_of(app)
    run_id = wf.run_id
    if runtime is None or run_id is None:
        return
    try:
        if runtime.store.fail_run(run_id, error):
            log.error("dyrygent run %s failed: %s", run_id, error)
            runtime.notify_run_finished(run_id, Status.FAILED)
    except Exception:  # noqa: BLE001 - the processor's own error is what the worker must report
        log.exception("could not record the failure of dyrygent run %s", run_id)


def register_processor(app: Celery) -> Task:
    """Register the workflow processor task on `app` (idempotent) and return it."""
    existing = app.tasks.get(PROCESSOR_TASK) if app.finalized else None
    if existing is not None:
        return existing

    def workflow_processor(self: Task, workflow_dict: dict[str, Any]) -> None:
        """One dyrygent tick: publish nodes whose dependencies succeeded, then re-queue itself."""
        workflow_dict["id"] = self.request.id
        wf = PypelineWorkflow.load(workflow_dict, app=self.app, processor=self)
        try:
            running = wf.tick()
        except StoreError as exc:
            # The store stayed down past its retry budget: an outage, not a broken workflow. Tick again later.
            log.warning("dyrygent workflow %s: run store unavailable (%s); ticking again later", wf.id, exc)
            running = True
        except Exception as exc:
            _fail_run(self.app, wf, f"dyrygent workflow processor failed: {type(exc).__name__}: {exc}")
            raise
        if not running:
            _check_finished(self.app, wf)
            return
        self.request.retries -= 1  # as dyrygent: retry forever, bounded by the workflow's processing limit
        raise self.retry(kwargs={"workflow_dict": wf.to_dict()}, countdown=wf.get_retry_countdown(),
                         **wf.workflow_options)

    return app.task(name=PROCESSOR_TASK, bind=True, max_retries=1, shared=False)(workflow_processor)


def _check_finished(app: Celery, wf: PypelineWorkflow) -> None:
    """The workflow has nothing left to run: its run must have ended too, else it fails with a clear error."""
    runtime = runtime_of(app)
    run_id = wf.run_id
    if runtime is None or run_id is None or wf.is_success():
        return
    if not runtime.store.run_status(run_id).is_terminal:
        _fail_run(app, wf, "dyrygent workflow ended but nodes never finished: "
                  + ", ".join(sorted(dict(wf.nodes[t].signature)["kwargs"][CONTEXT_KEY]["node"]
                                     for t, ok in wf.finished.items() if not ok)))


class DyrygentEngine(Engine):
    """Runs a pipeline as a celery-dyrygent Workflow, recording runs and nodes in the run store."""

    name = "dyrygent"
    supports_run_control = False

    def __init__(self, runtime: Any) -> None:
        super().__init__(runtime)
        #: Seconds between processor ticks for workflows this process starts (`PYPELINE_DYRYGENT_TICK`).
        self.tick: float = float(runtime.settings.dyrygent_tick)
        self.processor = register_processor(runtime.celery)
        self._runner = DyrygentNodeRunner(self)

    @property
    def runner(self) -> DyrygentNodeRunner:
        """The runner workers use for this engine's node messages."""
        return self._runner

    def node_signature(self, pipeline: PipelineConfig, run_id: str, name: str) -> Signature:
        """A frozen signature of one node's handler task carrying the node's orchestration context."""
        node = pipeline.nodes[name]
        ctx = {"engine": self.name, "run_id": run_id, "pipeline_id": pipeline.id, "node": name, "instance": ""}
        options: dict[str, Any] = {"queue": node.queue, "soft_time_limit": node.max_ttl,
                                   "time_limit": node.hard_time_limit, "shadow": display_name(pipeline.id, name)}
        if node.priority is not None:
            options["priority"] = node.priority
        # No chain_payload here: dyrygent re-sends every signature with each tick, so the payload would be
        # copied (nodes x ticks) times; the runner reads it from the run store instead.
        sig = self.rt.celery.signature(
            node.handler,
            kwargs={"event": {"pipeline_id": pipeline.id, "execution_id": run_id}, CONTEXT_KEY: ctx},
            options=options,
            immutable=True,
        )
        sig.freeze()
        return sig

    def build_workflow(self, pipeline: PipelineConfig, run_id: str) -> PypelineWorkflow:
        """One workflow node per DAG node, depending on exactly the node's upstream nodes."""
        dag = self.rt.dag(pipeline.id)
        wf = PypelineWorkflow({"queue": pipeline.processor_queue}, app=self.rt.celery, processor=self.processor)
        wf.set_tick(self.tick)
        wf.custom_payload = {"run_id": run_id}
        added: dict[str, Any] = {}
        for name in dag.nodes:  # topological order: upstream nodes are always added first
            deps = [added[p] for p in dag.predecessors(name)]
            added[name] = wf.add_signature(self.node_signature(pipeline, run_id, name), dependencies=deps)
        return wf

    def start(self, pipeline: PipelineConfig, payload: Any, *, run_id: str, origin: str | None = None) -> str:
        """Create the run and its node rows, then hand the workflow to the processor."""
        dag = self.rt.dag(pipeline.id)
        specs = [NodeSpec(n, dag.node(n).handler, dag.node(n).queue, len(dag.predecessors(n))) for n in dag.nodes]
        self.rt.store.create_run(run_id, pipeline.id, specs, leaves=dag.leaves, payload=payload,
                                 engine=self.name, origin=origin)
        wf = self.build_workflow(pipeline, run_id)
        wf.freeze()
        self.rt.store.add_event(run_id, WORKFLOW_EVENT, {"workflow_id": wf.id, "tick": self.tick})
        wf.apply_async()
        return run_id

    def workflow_ids(self, run_id: str) -> list[str]:
        """Task ids of the workflow processor(s) driving a run."""
        return [e["data"]["workflow_id"] for e in self.rt.store.events(run_id, WORKFLOW_EVENT)]

    def cancel(self, run_id: str) -> None:
        """Cancel in the store, revoke running nodes, and stop the processor from ticking again."""
        super().cancel(run_id)
        workflows = self.workflow_ids(run_id)
        if workflows:
            # The processor re-queues itself under the same task id, so revoking it ends the workflow.
            self.rt.celery.control.revoke(workflows)


class DyrygentNodeRunner(NodeRunner):
    """The dyrygent engine's node hooks: record transitions in the store; dyrygent publishes successors."""

    engine: DyrygentEngine
    defer_live_duplicates = True  # dyrygent's processor waits on this node: a dropped duplicate would strand it

    def inputs(self, ref: NodeRef, ctx: dict[str, Any], event: dict[str, Any]) -> NodeInputs:
        """Upstream results from the store (dyrygent starts a node only after its upstream nodes recorded)."""
        preds = self.rt.dag(ref.pipeline_id).predecessors(ref.node)
        upstream = self.rt.store.upstream_results(ref.run_id, preds) if preds else {}
        payload = event["chain_payload"] if "chain_payload" in event else self.rt.store.get_run(ref.run_id)["payload"]
        return NodeInputs(payload=payload, upstream=upstream)

    def success_plan(self, ref: NodeRef, node: NodeConfig, result: Any) -> tuple[FinishPlan, Mapping[Pair, Any]]:
        """Count the node off its successors (they become QUEUED when ready; dyrygent publishes them)."""
        successors = self.rt.dag(ref.pipeline_id).successors(ref.node)
        return FinishPlan(release={(s, ""): 1 for s in successors}), {}

    def failure_plan(self, ref: NodeRef) -> FinishPlan:
        """Skip every descendant of the failed node."""
        return FinishPlan(skip=[(d, "") for d in self.rt.dag(ref.pipeline_id).descendants(ref.node)])

    def after(self, ref: NodeRef, outcome: CompletionOutcome, payload: Any, inline: Mapping[Pair, Any]) -> None:
        """Only wake waiters when the run ended: dyrygent's processor publishes the successors."""
        if outcome.run_status is not None:
            self.rt.notify_run_finished(ref.run_id, outcome.run_status)

    def on_not_claimed(self, ref: NodeRef, claim: ClaimOutcome, ctx: dict[str, Any], event: dict[str, Any]) -> Any:
        """Redelivered or rescheduled after success: report the recorded result again; otherwise refuse."""
        if claim.status is Status.SUCCESS:
            return self.rt.store.upstream_results(ref.run_id, [ref.node]).get(ref.node)
        raise NodeExecutionError(f"node {ref.node!r} of run {ref.run_id} is {claim.status}; not started")

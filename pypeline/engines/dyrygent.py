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
import traceback
from typing import Any

from billiard.exceptions import TimeLimitExceeded, WorkerLostError
from celery import Celery, Task
from celery.canvas import Signature
from celery.exceptions import Retry
from celery.signals import task_failure
from celery_dyrygent.celery.inspect import ResultState
from celery_dyrygent.workflows import Workflow

from pypeline.config.model import PipelineConfig
from pypeline.engines.base import Engine
from pypeline.engines.payload import check_result
from pypeline.errors import InvalidInputError, NodeExecutionError
from pypeline.status import Status
from pypeline.store.repository import NodeSpec
from pypeline.tasks.chained import CONTEXT_KEY, ChainedTask
from pypeline.tasks.event import node_event
from pypeline.tasks.logs import node_capture

__all__ = ["DyrygentEngine", "DyrygentNodeRunner", "PypelineWorkflow", "register_processor", "PROCESSOR_TASK",
           "WORKFLOW_EVENT"]

log = logging.getLogger(__name__)

#: Task name of the workflow processor (the same name `celery_dyrygent.tasks.register_workflow_processor` uses).
PROCESSOR_TASK = "workflow-processor"
#: Run event recording the workflow processor's task id (what cancel revokes).
WORKFLOW_EVENT = "dyrygent.workflow"
#: dyrygent never waits longer than this after a tick that published tasks.
_ACTIVE_TICK_CAP = 2.0


class PypelineWorkflow(Workflow):
    """A dyrygent Workflow bound to one Celery app, with fractional tick policies.

    Stock dyrygent resolves task results and node signatures through Celery's *current* app and accepts
    only whole seconds (>= 1) between ticks; this subclass uses its own app and accepts any tick >= 0.
    """

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

    def get_tasks_state(self, task_ids: Any) -> dict[str, ResultState]:
        """Task states read from this workflow's app's result backend."""
        if self.app is None:
            return super().get_tasks_state(task_ids)
        return {task_id: ResultState(self.app.AsyncResult(task_id)) for task_id in task_ids}

    @classmethod
    def load(cls, workflow_dict: dict[str, Any], *, app: Celery, processor: Task) -> PypelineWorkflow:
        """Rebuild a workflow from its serialised form, with every node signature bound to `app`."""
        wf = cls.from_dict(workflow_dict)
        wf.app = app
        wf.workflow_processor_task = processor
        for node in wf.nodes.values():
            node.signature = Signature.from_dict(dict(node.signature), app=app)
        return wf


def register_processor(app: Celery) -> Task:
    """Register the workflow processor task on `app` (idempotent) and return it."""
    existing = app.tasks.get(PROCESSOR_TASK) if app.finalized else None
    if existing is not None:
        return existing

    def workflow_processor(self: Task, workflow_dict: dict[str, Any]) -> None:
        """One dyrygent tick: publish nodes whose dependencies succeeded, then re-queue itself."""
        workflow_dict["id"] = self.request.id
        wf = PypelineWorkflow.load(workflow_dict, app=self.app, processor=self)
        if wf.tick():
            self.request.retries -= 1  # as dyrygent: retry forever, bounded by the workflow's processing limit
            raise self.retry(kwargs={"workflow_dict": wf.to_dict()}, countdown=wf.get_retry_countdown(),
                             **wf.workflow_options)

    return app.task(name=PROCESSOR_TASK, bind=True, max_retries=1, shared=False)(workflow_processor)


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
                                   "time_limit": node.hard_time_limit}
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


class DyrygentNodeRunner:
    """Executes one node message for the dyrygent engine: claim, run, record; dyrygent publishes successors."""

    def __init__(self, engine: DyrygentEngine) -> None:
        self.engine = engine
        self.rt = engine.rt

    def run_node(self, task: ChainedTask, ctx: dict[str, Any], event: dict[str, Any]) -> Any:
        """Run the node; a failure is raised so dyrygent stops the branch (and sees the Celery FAILURE)."""
        store = self.rt.store
        run_id, name = ctx["run_id"], ctx["node"]
        pipeline = self.rt.config.pipeline(ctx["pipeline_id"])
        dag = self.rt.dag(pipeline.id)
        claim = store.claim_node(run_id, name, task.request.id or "")
        if not claim.claimed:
            if claim.status is Status.SUCCESS:  # redelivered or rescheduled: report the recorded result again
                return store.upstream_results(run_id, [name]).get(name)
            raise NodeExecutionError(f"node {name!r} of run {run_id} is {claim.status}; not started")
        preds = dag.predecessors(name)
        # dyrygent starts a node only after its upstream tasks succeeded, and each recorded its result first.
        upstream = store.upstream_results(run_id, preds) if preds else {}
        payload = event["chain_payload"] if "chain_payload" in event else store.get_run(run_id)["payload"]
        node_evt = node_event(pipeline_id=pipeline.id, run_id=run_id, task_id=task.request.id, node=name,
                              attempt=claim.attempts, chain_payload=payload, upstream=upstream)
        try:
            with node_capture(self.rt, run_id, name, "", claim.attempts):
                result = task.call(node_evt)
            check_result(result, self.rt.settings.max_result_bytes)
        except Retry:
            raise
        except Exception as exc:
            self._record_failure(task, pipeline, run_id, name, exc)
            raise
        # Successors are counted down (and QUEUED when ready) but not published: dyrygent publishes them.
        outcome = store.complete_node(run_id, name, result, dag.successors(name))
        if outcome.run_status is not None:
            self.rt.notify_run_finished(run_id, outcome.run_status)
        return result

    def _record_failure(self, task: ChainedTask, pipeline: PipelineConfig, run_id: str, name: str,
                        exc: Exception) -> None:
        """Schedule a retry (raises Retry) or record the final failure and skip the node's descendants."""
        store = self.rt.store
        node = pipeline.nodes[name]
        error = f"{type(exc).__name__}: {exc}"
        tb = traceback.format_exc()
        retries = task.request.retries or 0
        retryable = not isinstance(exc, NodeExecutionError)
        if retryable and retries < node.retry.max_retry and not task.request.called_directly:
            if store.retry_node(run_id, name, error, tb):
                countdown = node.retry.countdown(retries, random.random())
                log.warning("node %s of run %s failed (%s); retry %d/%d in %.1fs", name, run_id, error,
                            retries + 1, node.retry.max_retry, countdown)
                raise task.retry(exc=exc, countdown=countdown, max_retries=node.retry.max_retry)
        log.error("node %s of run %s failed after %d retries: %s", name, run_id, retries, error)
        self.fail(pipeline, run_id, name, error, tb)

    def fail(self, pipeline: PipelineConfig, run_id: str, name: str, error: str, tb: str) -> None:
        """Record a node's final failure and skip its descendants; the run fails once nothing else runs."""
        outcome = self.rt.store.fail_node(run_id, name, error, tb, self.rt.dag(pipeline.id).descendants(name))
        if outcome.run_status is not None:
            self.rt.notify_run_finished(run_id, outcome.run_status)

    def fail_interrupted(self, ctx: dict[str, Any], exc: BaseException, tb: str) -> None:
        """The node's process was killed (hard time limit, lost worker): record the failure the handler never saw."""
        pipeline = self.rt.config.pipeline(ctx["pipeline_id"])
        self.fail(pipeline, ctx["run_id"], ctx["node"], f"{type(exc).__name__}: {exc}", tb)


@task_failure.connect(weak=False)
def _node_process_killed(sender: Any = None, exception: BaseException | None = None, kwargs: Any = None,
                         einfo: Any = None, **_: Any) -> None:
    """In the worker's main process: a dyrygent node killed by its hard time limit is failed in the store."""
    ctx = kwargs.get(CONTEXT_KEY) if isinstance(kwargs, dict) else None
    if not isinstance(ctx, dict) or ctx.get("engine") != DyrygentEngine.name:
        return
    if not isinstance(exception, (TimeLimitExceeded, WorkerLostError)):
        return  # an ordinary failure was recorded by the runner itself
    runtime = getattr(getattr(sender, "app", None), "pypeline", None)
    if runtime is None:
        return
    try:
        runtime.runner(DyrygentEngine.name).fail_interrupted(ctx, exception, str(getattr(einfo, "traceback", "")))
    except Exception:  # noqa: BLE001 - a signal handler must never take the worker down
        log.exception("could not record the failure of node %s of run %s", ctx.get("node"), ctx.get("run_id"))

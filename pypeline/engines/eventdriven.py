"""The event-driven engine: a finishing node atomically releases its ready successors and publishes them.

No polling task and no whole-DAG message: each message carries one node's context (run id, node name,
instance, the invocation payload and, when known, its upstream result). Fan-in and join nodes read
their upstream results from the store. Completion is a guarded status transition, so a redelivered
message of a finished node never releases its successors twice. Split, filter and join rules live in
`pypeline.engines.dataflow`; this module runs them.
"""
from __future__ import annotations

import logging
import random
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from billiard.exceptions import TimeLimitExceeded
from celery.exceptions import Retry
from celery.signals import task_failure

from pypeline.config.model import NodeConfig, PipelineConfig
from pypeline.engines.base import Engine
from pypeline.engines.dataflow import Dataflow, Inputs, instance_index
from pypeline.engines.payload import check_result
from pypeline.errors import NodeExecutionError
from pypeline.status import Status
from pypeline.store.repository import CompletionOutcome, NodeSpec
from pypeline.tasks.chained import CONTEXT_KEY, ChainedTask
from pypeline.tasks.context import NodeContext, node_context
from pypeline.tasks.event import node_event
from pypeline.tasks.logs import node_capture

__all__ = ["EventDrivenEngine", "EventNodeRunner"]

log = logging.getLogger(__name__)

Pair = tuple[str, str]


class EventDrivenEngine(Engine):
    """Pypeline's default engine: event-driven dispatch recorded in the run store."""

    name = "event"
    supports_run_control = True

    def __init__(self, runtime: Any) -> None:
        super().__init__(runtime)
        self._runner = EventNodeRunner(self)
        self._flows: dict[str, Dataflow] = {}

    @property
    def runner(self) -> EventNodeRunner:
        """The runner workers use for this engine's node messages."""
        return self._runner

    def flow(self, pipeline_id: str) -> Dataflow:
        """The (cached) split/join/filter structure of a pipeline; InvalidInputError when it is unsound."""
        flow = self._flows.get(pipeline_id)
        if flow is None:
            flow = self._flows[pipeline_id] = Dataflow(self.rt.dag(pipeline_id))
        return flow

    def start(self, pipeline: PipelineConfig, payload: Any, *, run_id: str, origin: str | None = None) -> str:
        """Create the run and its top-level node rows, then publish the root nodes."""
        dag = self.rt.dag(pipeline.id)
        flow = self.flow(pipeline.id)  # checked before anything is written
        specs = [NodeSpec(n, dag.node(n).handler, dag.node(n).queue, len(dag.predecessors(n))) for n in flow.top_level]
        roots = self.rt.store.create_run(run_id, pipeline.id, specs, leaves=dag.leaves, payload=payload,
                                         engine=self.name, origin=origin)
        self.dispatch(pipeline, run_id, [(r, "") for r in roots], payload)
        return run_id

    def dispatch(
        self,
        pipeline: PipelineConfig,
        run_id: str,
        rows: Sequence[Pair],
        payload: Any,
        inline: Mapping[Pair, dict[str, Any]] | None = None,
    ) -> None:
        """Send one message per (node, instance) row; `inline` gives upstream results known already."""
        if not rows:
            return
        app = self.rt.celery
        with app.producer_or_acquire() as producer:
            for name, instance in rows:
                node = pipeline.nodes[name]
                ctx: dict[str, Any] = {"engine": self.name, "run_id": run_id, "pipeline_id": pipeline.id,
                                       "node": name, "instance": instance}
                if inline is not None and (name, instance) in inline:
                    ctx["upstream"] = inline[(name, instance)]
                app.send_task(
                    node.handler,
                    kwargs={"event": {"pipeline_id": pipeline.id, "execution_id": run_id, "chain_payload": payload},
                            CONTEXT_KEY: ctx},
                    queue=node.queue,
                    soft_time_limit=node.max_ttl,
                    time_limit=node.hard_time_limit,
                    priority=node.priority,
                    ignore_result=True,
                    producer=producer,
                )

    def republish(self, run_id: str, rows: Sequence[Pair]) -> None:
        """Re-publish queued rows whose messages were lost (a claim is guarded, so a duplicate runs once)."""
        run = self.rt.store.get_run(run_id)
        touched: list[Pair] = []
        for instance in sorted({i for _, i in rows}):
            nodes = [n for n, i in rows if i == instance]
            touched += [(n, instance) for n in self.rt.store.requeue_nodes(run_id, nodes, instance)]
        self.dispatch(self.rt.config.pipeline(run["pipeline_id"]), run_id, touched, run["payload"])

    def pause(self, run_id: str) -> None:
        """Stop dispatching: running nodes finish, their successors wait for resume."""
        self.rt.store.pause_run(run_id)

    def resume(self, run_id: str) -> None:
        """Publish every node that became ready while paused."""
        run = self.rt.store.get_run(run_id)
        rows = self.rt.store.resume_run(run_id)
        self.dispatch(self.rt.config.pipeline(run["pipeline_id"]), run_id, rows, run["payload"])
        status = self.rt.store.run_status(run_id)
        if not rows and status.is_terminal:
            self.rt.notify_run_finished(run_id, status)

    def rerun(self, run_id: str) -> None:
        """New attempt of a failed run: only failed/skipped/cancelled rows run, recorded results are reused."""
        store = self.rt.store
        run = store.get_run(run_id)
        pipeline = self.rt.config.pipeline(run["pipeline_id"])
        plan = self.flow(pipeline.id).rerun_plan(store.node_states(run_id))
        ready = store.restart_run(run_id, plan)
        self.dispatch(pipeline, run_id, ready, run["payload"])
        status = store.run_status(run_id)
        if status.is_terminal:
            self.rt.notify_run_finished(run_id, status)


class EventNodeRunner:
    """Executes one node message inside a worker for the event-driven engine."""

    def __init__(self, engine: EventDrivenEngine) -> None:
        self.engine = engine
        self.rt = engine.rt

    def run_node(self, task: ChainedTask, ctx: dict[str, Any], event: dict[str, Any]) -> Any:
        """Claim the node, run the handler, record the outcome and release ready successors."""
        store = self.rt.store
        run_id, name, instance = ctx["run_id"], ctx["node"], ctx.get("instance", "")
        pipeline = self.rt.config.pipeline(ctx["pipeline_id"])
        flow = self.engine.flow(pipeline.id)
        node = pipeline.nodes[name]
        claim = store.claim_node(run_id, name, task.request.id or "", instance)
        if not claim.claimed:
            if claim.status is Status.SUCCESS:
                self._recover_successors(pipeline, flow, run_id, name, instance, event)
            log.info("node %s[%s] of run %s not started: it is %s", name, instance, run_id, claim.status)
            return None
        payload = event.get("chain_payload")
        with node_context(NodeContext(run_id, pipeline.id, name, instance, store)):
            try:
                inputs = self._inputs(flow, run_id, name, instance, ctx)
                if inputs.dropped:
                    return self._drop(pipeline, flow, run_id, name, instance, payload, "every upstream was dropped")
                node_evt = node_event(pipeline_id=pipeline.id, run_id=run_id, task_id=task.request.id, node=name,
                                      attempt=claim.attempts, chain_payload=payload, upstream=inputs.upstream,
                                      instance=instance,
                                      extra=None if inputs.groups is None else {"groups": inputs.groups})
                with node_capture(self.rt, run_id, name, instance, claim.attempts):
                    result = task.call(node_evt)
                if node.filter and result is None:
                    return self._drop(pipeline, flow, run_id, name, instance, payload, "returned None")
                result = self._check_result(node, result)
            except Retry:
                raise
            except Exception as exc:  # noqa: BLE001 - a handler may raise anything; it is recorded, not lost
                return self._handle_failure(task, pipeline, flow, run_id, name, instance, payload, exc)
        plan, inline = flow.success_plan(name, instance, result)
        outcome = store.finish_node(run_id, name, Status.SUCCESS, instance=instance, result=result, plan=plan)
        self._after(pipeline, run_id, outcome, payload, inline)
        return result

    def _inputs(self, flow: Dataflow, run_id: str, name: str, instance: str, ctx: dict[str, Any]) -> Inputs:
        if "upstream" in ctx:
            return Inputs(upstream=ctx["upstream"])
        preds = flow.dag.predecessors(name)
        if not preds:
            return Inputs()
        store = self.rt.store
        split = flow.closes.get(name)
        if split is None:
            opener = flow.opener(name)
            pairs = flow.pred_pairs(name, instance)
            rows = store.row_results(run_id, [pair for pair in pairs if pair[0] != opener])
            if opener is not None:  # this instance's element only, never the whole list
                pair = next(pair for pair in pairs if pair[0] == opener)
                rows[pair] = ("SUCCESS", store.split_element(run_id, opener, pair[1], instance_index(instance)))
            return flow.resolve(name, instance, rows)
        split_result: list[Any] = []
        if split in preds:
            split_result = store.row_results(run_id, [(split, instance)])[(split, instance)][1] or []
        rows = store.instance_results(run_id, [p for p in preds if p != split], instance)
        return flow.resolve_join(name, instance, split_result, rows)

    def _check_result(self, node: NodeConfig, result: Any) -> Any:
        if node.split:
            if isinstance(result, tuple):
                result = list(result)
            if not isinstance(result, list):
                raise NodeExecutionError(f"split node '{node.name}' must return a list, got {type(result).__name__}")
        check_result(result, self.rt.settings.max_result_bytes)
        return result

    def _after(
        self,
        pipeline: PipelineConfig,
        run_id: str,
        outcome: CompletionOutcome,
        payload: Any,
        inline: Mapping[Pair, dict[str, Any]] | None = None,
    ) -> None:
        """Publish what a finished node made ready and wake waiters if the run ended."""
        if not outcome.applied:
            return
        self.engine.dispatch(pipeline, run_id, outcome.dispatch, payload, inline)
        if outcome.run_status is not None:
            self.rt.notify_run_finished(run_id, outcome.run_status)

    def _drop(
        self, pipeline: PipelineConfig, flow: Dataflow, run_id: str, name: str, instance: str, payload: Any, why: str
    ) -> None:
        """Filter rule: the node produced nothing; nodes fed only by dropped nodes are skipped for this event."""
        outcome = self.rt.store.finish_node(run_id, name, Status.SKIPPED, instance=instance,
                                            summary=f"filtered out ({why})", plan=flow.drop_plan(name, instance))
        self._after(pipeline, run_id, outcome, payload)
        return None

    def _handle_failure(
        self,
        task: ChainedTask,
        pipeline: PipelineConfig,
        flow: Dataflow,
        run_id: str,
        name: str,
        instance: str,
        payload: Any,
        exc: Exception,
    ) -> None:
        store = self.rt.store
        node = pipeline.nodes[name]
        error = f"{type(exc).__name__}: {exc}"
        tb = traceback.format_exc()
        retries = task.request.retries or 0
        retryable = not isinstance(exc, NodeExecutionError)
        if retryable and retries < node.retry.max_retry and not task.request.called_directly:
            if store.retry_node(run_id, name, error, tb, instance=instance):
                countdown = node.retry.countdown(retries, random.random())
                log.warning("node %s of run %s failed (%s); retry %d/%d in %.1fs", name, run_id, error,
                            retries + 1, node.retry.max_retry, countdown)
                raise task.retry(exc=exc, countdown=countdown, max_retries=node.retry.max_retry)
        log.error("node %s[%s] of run %s failed after %d retries: %s\n%s", name, instance, run_id, retries, error, tb)
        self.fail(pipeline, flow, run_id, name, instance, payload, error, tb)
        return None

    def fail(
        self, pipeline: PipelineConfig, flow: Dataflow, run_id: str, name: str, instance: str, payload: Any,
        error: str, tb: str,
    ) -> None:
        """Record a node's final failure: downstream rows are skipped, the run fails once nothing else runs."""
        outcome = self.rt.store.fail_node(run_id, name, error, tb, (), instance=instance,
                                          plan=flow.failure_plan(name, instance))
        self._after(pipeline, run_id, outcome, payload)

    def fail_interrupted(self, ctx: dict[str, Any], exc: BaseException, tb: str) -> None:
        """A node's task died outside the handler's reach (hard time limit): fail it if it is still running."""
        pipeline = self.rt.config.pipeline(ctx["pipeline_id"])
        if isinstance(exc, TimeLimitExceeded):
            error = f"TimeLimitExceeded: hard time limit ({exc.args[0] if exc.args else '?'} s) exceeded; " \
                    "the worker process running the node was killed"
        else:
            error = f"{type(exc).__name__}: {exc}"
        payload = self.rt.store.get_run(ctx["run_id"])["payload"]
        self.fail(pipeline, self.engine.flow(pipeline.id), ctx["run_id"], ctx["node"], ctx.get("instance", ""),
                  payload, error, tb)

    def _recover_successors(
        self, pipeline: PipelineConfig, flow: Dataflow, run_id: str, name: str, instance: str, event: dict[str, Any]
    ) -> None:
        """A finished node's message came again: re-publish successors that were queued but may be lost."""
        store = self.rt.store
        if name in flow.splits:
            entries = flow.splits[name].entries
            rows = [(n, i) for n, i, status, _ in store.instance_results(run_id, entries, instance)
                    if status == Status.QUEUED.value]
        else:
            rows = []
            targets: dict[str, list[str]] = {}
            for succ, inst in flow.targets(name, instance):
                targets.setdefault(inst, []).append(succ)
            for inst, nodes in targets.items():
                rows.extend((n, inst) for n in store.queued_among(run_id, nodes, inst))
        if rows:
            log.warning("redelivered finished node %s of run %s: re-publishing queued %s", name, run_id, rows)
            self.engine.dispatch(pipeline, run_id, rows, event.get("chain_payload"))


@task_failure.connect(weak=False)
def _node_task_failed(sender: Any = None, exception: BaseException | None = None, kwargs: Any = None,
                      einfo: Any = None, **_: Any) -> None:
    """Hard time limit (worker process killed): the worker's main process fails the node in the store."""
    ctx = (kwargs or {}).get(CONTEXT_KEY) if isinstance(kwargs, dict) else None
    if not isinstance(ctx, dict) or ctx.get("engine") != EventDrivenEngine.name or exception is None:
        return
    runtime = getattr(getattr(sender, "app", None), "pypeline", None)
    if runtime is None:
        return
    try:
        runner = runtime.runner(EventDrivenEngine.name)
        runner.fail_interrupted(ctx, exception, str(getattr(einfo, "traceback", "") or ""))
    except Exception:  # noqa: BLE001 - a signal handler must never take the worker down
        log.exception("could not record the failure of node %s of run %s", ctx.get("node"), ctx.get("run_id"))


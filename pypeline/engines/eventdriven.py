"""The event-driven engine: a finishing node atomically releases its ready successors and publishes them.

No polling task and no whole-DAG message: each message carries one node's context (run id, node name,
the invocation payload and, for a single-parent node, its parent's result). Fan-in nodes read their
upstream results from the store. Completion is a guarded status transition, so a redelivered message
of a finished node never releases its successors twice.
"""
from __future__ import annotations

import json
import logging
import random
import traceback
from collections.abc import Sequence
from typing import Any

from celery.exceptions import Retry

from pypeline.config.model import PipelineConfig
from pypeline.engines.base import Engine
from pypeline.errors import NodeExecutionError
from pypeline.status import Status
from pypeline.store.repository import NodeSpec
from pypeline.tasks.chained import CONTEXT_KEY, ChainedTask
from pypeline.tasks.event import node_event

__all__ = ["EventDrivenEngine", "EventNodeRunner"]

log = logging.getLogger(__name__)


class EventDrivenEngine(Engine):
    """Pypeline's default engine: event-driven dispatch recorded in the run store."""

    name = "event"
    supports_run_control = True

    def __init__(self, runtime: Any) -> None:
        super().__init__(runtime)
        self._runner = EventNodeRunner(self)

    @property
    def runner(self) -> EventNodeRunner:
        """The runner workers use for this engine's node messages."""
        return self._runner

    def start(self, pipeline: PipelineConfig, payload: Any, *, run_id: str, origin: str | None = None) -> str:
        """Create the run and its node rows, then publish the root nodes."""
        dag = self.rt.dag(pipeline.id)
        specs = [NodeSpec(n, dag.node(n).handler, dag.node(n).queue, len(dag.predecessors(n))) for n in dag.nodes]
        roots = self.rt.store.create_run(run_id, pipeline.id, specs, leaves=dag.leaves, payload=payload,
                                         engine=self.name, origin=origin)
        self.publish(pipeline, run_id, roots, payload)
        return run_id

    def publish(
        self,
        pipeline: PipelineConfig,
        run_id: str,
        nodes: Sequence[str],
        payload: Any,
        *,
        parent: str | None = None,
        parent_result: Any = None,
        instance: str = "",
    ) -> None:
        """Send one message per node; a node whose only upstream is `parent` gets its result inline."""
        if not nodes:
            return
        app = self.rt.celery
        dag = self.rt.dag(pipeline.id)
        with app.producer_or_acquire() as producer:
            for name in nodes:
                node = pipeline.nodes[name]
                ctx: dict[str, Any] = {"engine": self.name, "run_id": run_id, "pipeline_id": pipeline.id,
                                       "node": name, "instance": instance}
                if parent is not None and dag.predecessors(name) == (parent,):
                    ctx["upstream"] = {parent: parent_result}
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

    def pause(self, run_id: str) -> None:
        """Stop dispatching: running nodes finish, their successors wait for resume."""
        self.rt.store.pause_run(run_id)

    def resume(self, run_id: str) -> None:
        """Publish every node that became ready while paused."""
        run = self.rt.store.get_run(run_id)
        pairs = self.rt.store.resume_run(run_id)
        pipeline = self.rt.config.pipeline(run["pipeline_id"])
        for inst in sorted({i for _, i in pairs}):
            self.publish(pipeline, run_id, [n for n, i in pairs if i == inst], run["payload"], instance=inst)
        if not pairs and self.rt.store.run_status(run_id).is_terminal:
            self.rt.notify_run_finished(run_id, self.rt.store.run_status(run_id))

    def rerun(self, run_id: str) -> None:
        """New attempt of a failed run: only failed/skipped/cancelled nodes run, upstream results are reused."""
        run = self.rt.store.get_run(run_id)
        pipeline = self.rt.config.pipeline(run["pipeline_id"])
        dag = self.rt.dag(pipeline.id)
        ready = self.rt.store.prepare_rerun(run_id, {n: dag.predecessors(n) for n in dag.nodes})
        self.publish(pipeline, run_id, ready, run["payload"])


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
        dag = self.rt.dag(pipeline.id)
        node = pipeline.nodes[name]
        claim = store.claim_node(run_id, name, task.request.id or "", instance)
        if not claim.claimed:
            if claim.status is Status.SUCCESS:
                self._recover_successors(pipeline, run_id, name, instance, event)
            log.info("node %s of run %s not started: it is %s", name, run_id, claim.status)
            return None
        upstream = ctx.get("upstream")
        if upstream is None:
            upstream = store.upstream_results(run_id, dag.predecessors(name), instance) if dag.predecessors(name) else {}
        payload = event.get("chain_payload")
        node_evt = node_event(pipeline_id=pipeline.id, run_id=run_id, task_id=task.request.id, node=name,
                              attempt=claim.attempts, chain_payload=payload, upstream=upstream, instance=instance)
        try:
            result = task.call(node_evt)
            self._check_result(result)
        except Retry:
            raise
        except Exception as exc:  # noqa: BLE001 - a handler may raise anything; it is recorded, not lost
            return self._handle_failure(task, pipeline, run_id, name, instance, exc)
        outcome = store.complete_node(run_id, name, result, dag.successors(name), instance=instance)
        if outcome.applied:
            self.engine.publish(pipeline, run_id, outcome.ready, payload, parent=name, parent_result=result,
                                instance=instance)
            if outcome.run_status is not None:
                self.rt.notify_run_finished(run_id, outcome.run_status)
        return result

    def _check_result(self, result: Any) -> None:
        try:
            size = len(json.dumps(result))
        except (TypeError, ValueError) as exc:
            raise NodeExecutionError(f"node result is not JSON-serialisable: {exc}") from exc
        limit = self.rt.settings.max_result_bytes
        if size > limit:
            raise NodeExecutionError(f"node result is {size} bytes of JSON, over the {limit}-byte limit")

    def _handle_failure(
        self, task: ChainedTask, pipeline: PipelineConfig, run_id: str, name: str, instance: str, exc: Exception
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
        log.error("node %s of run %s failed after %d retries: %s\n%s", name, run_id, retries, error, tb)
        outcome = store.fail_node(run_id, name, error, tb, self.rt.dag(pipeline.id).descendants(name),
                                  instance=instance)
        if outcome.run_status is not None:
            self.rt.notify_run_finished(run_id, outcome.run_status)
        return None

    def _recover_successors(
        self, pipeline: PipelineConfig, run_id: str, name: str, instance: str, event: dict[str, Any]
    ) -> None:
        """A finished node's message came again: re-publish successors that were queued but may be lost."""
        succ = self.rt.dag(pipeline.id).successors(name)
        queued = self.rt.store.queued_among(run_id, succ, instance)
        if queued:
            log.warning("redelivered finished node %s of run %s: re-publishing queued %s", name, run_id, queued)
            self.engine.publish(pipeline, run_id, queued, event.get("chain_payload"), instance=instance)

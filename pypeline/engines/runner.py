"""One node lifecycle for every engine: claim -> inputs -> call -> check -> record -> after.

`NodeRunner.run_node` is a template method (like rq's `perform_job` or dramatiq's worker loop): engines
only fill in hooks (`inputs`, `success_plan`, `failure_plan`, `after`, `on_not_claimed`). The rules every
engine shares live here once:

- a handler exception gets ONE retry decision (`tasks.chained.retry_countdown`), then a retry or the
  node's final failure, recorded in the store and re-raised so the Celery task ends in FAILURE;
- a store that stays unavailable past its retry budget while claiming or recording is an
  infrastructure fault, never a node failure: the message is rejected with requeue (not acked), so the
  broker delivers it again later. (An ordinary exception would be acked: `task_acks_on_failure_or_timeout`.
  `Reject(requeue=True)` puts the message back on Redis and the embedded filesystem transport, whose
  channels re-publish it, and on RabbitMQ, which requeues it.);
- a publish that fails after a node was recorded is logged, not turned into a node failure (the node
  stays QUEUED in the store and `runs recover` / the reconciler re-publishes it).
"""
from __future__ import annotations

import logging
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from billiard.exceptions import TimeLimitExceeded, WorkerLostError
from celery.exceptions import Ignore, Reject, Retry

from pypeline.config.model import NodeConfig
from pypeline.engines.base import EngineRuntime, publish_retry_policy
from pypeline.engines.payload import check_result
from pypeline.errors import NodeExecutionError, StoreError
from pypeline.status import Status
from pypeline.store.repository import ClaimOutcome, CompletionOutcome, FinishPlan
from pypeline.store.retry import is_transient
from pypeline.tasks.chained import ChainedTask, retry_countdown
from pypeline.tasks.context import NodeContext, node_context
from pypeline.tasks.event import node_event
from pypeline.tasks.logs import node_capture

__all__ = ["NodeRef", "NodeInputs", "NodeRunner", "RECORDED_MARK", "display_name", "is_recorded"]

log = logging.getLogger(__name__)

#: Attribute set on an exception whose node failure the runner recorded before re-raising it.
RECORDED_MARK = "_pypeline_recorded"
#: (node, instance) row of a run.
Pair = tuple[str, str]
T = TypeVar("T")
#: Node statuses after which a redelivered message only settles the run (the node never runs again).
_FINISHED = (Status.SUCCESS, Status.FAILED, Status.SKIPPED)


def display_name(pipeline_id: str, node: str) -> str:
    """The readable task name a node message shows in Celery tools (its `shadow` name)."""
    return f"{pipeline_id}.{node}"


def is_recorded(exc: BaseException) -> bool:
    """True when the runner already recorded `exc` as its node's failure."""
    return bool(getattr(exc, RECORDED_MARK, False))


@dataclass(frozen=True)
class NodeRef:
    """Which node row a message is about."""

    run_id: str
    pipeline_id: str
    node: str
    instance: str = ""

    @classmethod
    def of(cls, ctx: Mapping[str, Any]) -> NodeRef:
        """The node a message's orchestration context names."""
        return cls(ctx["run_id"], ctx["pipeline_id"], ctx["node"], ctx.get("instance", "") or "")

    @property
    def label(self) -> str:
        """`node` or `node[instance]`, for logs."""
        return f"{self.node}[{self.instance}]" if self.instance else self.node


@dataclass
class NodeInputs:
    """What a node's handler receives; `dropped` (a reason) means it is skipped without running."""

    payload: Any = None
    upstream: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] | None = None
    dropped: str | None = None


class NodeRunner(ABC):
    """Executes one node message inside a worker; engines subclass it with hooks only."""

    #: Re-raise a recorded final failure so the Celery task ends in FAILURE (the store stays the truth).
    reraise_failures: ClassVar[bool] = True
    #: Retry (instead of dropping) a delivery that finds its node RUNNING under another copy's live lease: for
    #: engines that publish nothing themselves (dyrygent), so the node still runs if that copy's worker is gone.
    defer_live_duplicates: ClassVar[bool] = False

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.rt: EngineRuntime = engine.rt

    # ------------------------------------------------------------------ the template
    def run_node(self, task: ChainedTask, ctx: dict[str, Any], event: dict[str, Any]) -> Any:
        """Claim the node, run its handler, record the outcome and hand on to the engine."""
        ref = NodeRef.of(ctx)
        pipeline = self.rt.config.pipeline(ref.pipeline_id)
        node = pipeline.nodes[ref.node]
        task_id = task.request.id or ""
        store = self.rt.store
        claim = self._store_op(ref, "claim", lambda: store.claim_node(ref.run_id, ref.node, task_id, ref.instance))
        if not claim.claimed:
            if claim.status is Status.RUNNING and self.defer_live_duplicates:
                self._defer(task, ref)
            if claim.status in _FINISHED:
                self._settle(ref)
            log.info("node %s of run %s not started: it is %s", ref.label, ref.run_id, claim.status)
            return self._store_op(ref, "hand on a finished node", lambda: self.on_not_claimed(ref, claim, ctx, event))
        payload = event.get("chain_payload")
        with node_context(NodeContext(ref.run_id, ref.pipeline_id, ref.node, ref.instance, store)):
            try:
                inputs = self.inputs(ref, ctx, event)
            except StoreError as exc:
                raise self._redeliver(ref, "read its inputs", exc) from exc
            except Exception as exc:  # noqa: BLE001 - a bad input (join key, upstream) fails the node
                return self._failed(task, ref, node, payload, exc)
            payload = inputs.payload
            if inputs.dropped is not None:
                return self._drop(ref, payload, inputs.dropped, task_id)
            node_evt = node_event(pipeline_id=ref.pipeline_id, run_id=ref.run_id, task_id=task.request.id,
                                  node=ref.node, attempt=claim.attempts, chain_payload=payload,
                                  upstream=inputs.upstream, instance=ref.instance, extra=inputs.extra)
            try:
                with node_capture(self.rt, ref.run_id, ref.node, ref.instance, claim.attempts):
                    result = task.call(node_evt)
                dropped = node.filter and result is None
                if not dropped:
                    result = self.check_result(node, result)
                    plan, inline = self.success_plan(ref, node, result)
            except (Retry, Reject, Ignore):
                raise  # the handler asked Celery for this itself (Ignore: a sub-pipeline node handed off)
            except Exception as exc:  # noqa: BLE001 - a handler may raise anything; it is recorded, not lost
                return self._failed(task, ref, node, payload, exc)
        if dropped:
            return self._drop(ref, payload, "returned None", task_id)
        outcome = self._store_op(ref, "record its success", lambda: store.finish_node(
            ref.run_id, ref.node, Status.SUCCESS, instance=ref.instance, result=result, plan=plan, task_id=task_id))
        self._after_safely(ref, outcome, payload, inline)
        return result

    # ------------------------------------------------------------------ engine hooks
    @abstractmethod
    def inputs(self, ref: NodeRef, ctx: dict[str, Any], event: dict[str, Any]) -> NodeInputs:
        """The payload and upstream results the handler gets (or why the node is dropped)."""

    @abstractmethod
    def success_plan(self, ref: NodeRef, node: NodeConfig, result: Any) -> tuple[FinishPlan, Mapping[Pair, Any]]:
        """Row changes that go with the node's success, and upstream results to send inline."""

    @abstractmethod
    def failure_plan(self, ref: NodeRef) -> FinishPlan:
        """Row changes that go with the node's final failure (descendants skipped)."""

    def drop_plan(self, ref: NodeRef) -> FinishPlan:
        """Row changes when a filter node produced nothing (engines with filters override it)."""
        return FinishPlan()

    @abstractmethod
    def after(self, ref: NodeRef, outcome: CompletionOutcome, payload: Any, inline: Mapping[Pair, Any]) -> None:
        """Hand on a recorded change: publish what became ready, wake waiters when the run ended."""

    @abstractmethod
    def on_not_claimed(self, ref: NodeRef, claim: ClaimOutcome, ctx: dict[str, Any], event: dict[str, Any]) -> Any:
        """A message for a node that may not start (finished, cancelled, ...): the task's return value."""

    def check_result(self, node: NodeConfig, result: Any) -> Any:
        """The handler's result, checked: strict JSON within the size limit, a list for split nodes."""
        if node.split:
            if isinstance(result, tuple):
                result = list(result)
            if not isinstance(result, list):
                raise NodeExecutionError(f"split node '{node.name}' must return a list, got {type(result).__name__}")
        check_result(result, self.rt.settings.max_result_bytes)
        return result

    # ------------------------------------------------------------------ failures
    def _failed(self, task: ChainedTask, ref: NodeRef, node: NodeConfig, payload: Any, exc: Exception) -> None:
        """The one retry decision: retry (raises Retry) or record the final failure (and re-raise it)."""
        error = f"{type(exc).__name__}: {exc}"
        tb = traceback.format_exc()
        generation = exc.generation if isinstance(exc, NodeExecutionError) else None
        if generation is not None:
            task.request.retries = generation  # the store's count: a re-sent message's own count may be stale
        countdown = retry_countdown(node.retry, task.request, exc)
        if countdown is not None:
            store = self.rt.store
            if self._store_op(ref, "record a retry", lambda: store.retry_node(
                    ref.run_id, ref.node, error, tb, instance=ref.instance, task_id=task.request.id,
                    expected_retries=generation)):
                retries = task.request.retries or 0
                log.warning("node %s of run %s failed (%s); retry %d/%d in %.1fs", ref.label, ref.run_id, error,
                            retries + 1, node.retry.max_retry, countdown)
                self._retry(task, ref, exc, countdown, node.retry.max_retry)
            if generation is not None:
                log.info("node %s of run %s: the outcome of its generation %d was already recorded", ref.label,
                         ref.run_id, generation)
                return None
        log.error("node %s of run %s failed after %d retries: %s\n%s", ref.label, ref.run_id,
                  task.request.retries or 0, error, tb)
        self.fail(ref, payload, error, tb)
        if self.reraise_failures and not task.request.called_directly:
            _mark_recorded(exc)
            raise exc
        return None

    def _defer(self, task: ChainedTask, ref: NodeRef) -> None:
        """A duplicate delivery of a node running under a live lease: look again later (raises Retry).

        The retry keeps the node's retry count (it is not an attempt) and runs the node once the lease expired
        (worker gone), or reports the recorded result once the live copy finished.
        """
        log.info("node %s of run %s is running under a live lease elsewhere; looking again later", ref.label,
                 ref.run_id)
        task.request.retries = (task.request.retries or 0) - 1  # Celery adds one on retry; this is not an attempt
        raise task.retry(countdown=max(self.rt.store.lease_seconds / 3, 1.0), max_retries=None,
                         retry_policy=publish_retry_policy(self.rt.settings.publish_retry_seconds))

    def _retry(self, task: ChainedTask, ref: NodeRef, exc: Exception, countdown: float, max_retries: int) -> None:
        """Publish the retry (raises Retry). Celery drops the message when that publish fails; requeue it
        instead, so the node (RETRYING in the store) is not stranded by a broker outage."""
        try:
            raise task.retry(exc=exc, countdown=countdown, max_retries=max_retries,
                             retry_policy=publish_retry_policy(self.rt.settings.publish_retry_seconds))
        except Reject as rejected:
            if rejected.requeue:
                raise
            log.error("node %s of run %s: could not publish its retry (%s); its message is requeued",
                      ref.label, ref.run_id, rejected.reason)
            raise Reject(rejected.reason, requeue=True) from exc

    def fail(self, ref: NodeRef, payload: Any, error: str, tb: str) -> None:
        """Record a node's final failure: downstream rows are skipped, the run fails once nothing else runs."""
        outcome = self._store_op(ref, "record its failure", lambda: self.rt.store.fail_node(
            ref.run_id, ref.node, error, tb, (), instance=ref.instance, plan=self.failure_plan(ref)))
        self._after_safely(ref, outcome, payload, {})

    def fail_interrupted(self, ctx: dict[str, Any], task_id: str | None, exc: BaseException, tb: str) -> bool:
        """A node's task died outside the handler's reach: fail the node if it is still running this task.

        Acts on a hard time limit or a lost worker process, or on any other error that left the node
        RUNNING under this very task. Store errors are infrastructure faults and are never recorded as
        the node's failure. Returns True when a failure was recorded.
        """
        if is_recorded(exc) or isinstance(exc, StoreError) or is_transient(exc):
            return False
        ref = NodeRef.of(ctx)
        if not isinstance(exc, (TimeLimitExceeded, WorkerLostError)):
            status, owner = self.rt.store.node_owner(ref.run_id, ref.node, ref.instance)
            if status is not Status.RUNNING or (task_id is not None and owner != task_id):
                return False
        if isinstance(exc, TimeLimitExceeded):
            error = f"TimeLimitExceeded: hard time limit ({exc.args[0] if exc.args else '?'} s) exceeded; " \
                    "the worker process running the node was killed"
        else:
            error = f"{type(exc).__name__}: {exc}"
        self.fail(ref, self.rt.store.get_run(ref.run_id)["payload"], error, tb)
        return True

    # ------------------------------------------------------------------ helpers
    def _drop(self, ref: NodeRef, payload: Any, why: str, task_id: str) -> None:
        """Filter rule: the node produced nothing; it ends SKIPPED with the engine's drop plan."""
        outcome = self._store_op(ref, "record its drop", lambda: self.rt.store.finish_node(
            ref.run_id, ref.node, Status.SKIPPED, instance=ref.instance, summary=f"filtered out ({why})",
            plan=self.drop_plan(ref), task_id=task_id))
        self._after_safely(ref, outcome, payload, {})
        return None

    def _settle(self, ref: NodeRef) -> None:
        """A finished node's message came again: finalise its run if a crash came between the node's one-statement
        completion and the run's finalisation (see pypeline.store.hotpath); a no-op otherwise."""
        status = self._store_op(ref, "settle its run", lambda: self.rt.store.settle_run(ref.run_id))
        if status is not None:
            log.warning("run %s finalised on a redelivery of its node %s", ref.run_id, ref.label)
            self.rt.notify_run_finished(ref.run_id, status)

    def _store_op(self, ref: NodeRef, what: str, op: Callable[[], T]) -> T:
        """Run a store operation (it retries transient errors itself); if the store stays down, redeliver."""
        try:
            return op()
        except StoreError as exc:
            raise self._redeliver(ref, what, exc) from exc

    def _redeliver(self, ref: NodeRef, what: str, exc: BaseException) -> Reject:
        """The store stayed unavailable: do not ack the message and do not fail the node; it comes back."""
        log.error("node %s of run %s: could not %s (%s); its message is requeued for a later delivery",
                  ref.label, ref.run_id, what, exc)
        return Reject(exc, requeue=True)

    def _after_safely(self, ref: NodeRef, outcome: CompletionOutcome, payload: Any,
                      inline: Mapping[Pair, Any]) -> None:
        """Run the `after` hook; a broker that stays down must not turn a recorded node into a failure."""
        try:
            self.after(ref, outcome, payload, inline)
        except Exception:  # noqa: BLE001 - the node is recorded; queued successors are re-published later
            log.exception("node %s of run %s is recorded, but handing on failed; its queued successors are "
                          "re-published by recovery", ref.label, ref.run_id)


def _mark_recorded(exc: BaseException) -> None:
    try:
        setattr(exc, RECORDED_MARK, True)
    except AttributeError:  # an exception type with __slots__: the signal handler checks the store instead
        pass

"""Sub-pipelines: a node declared with `pipeline: other_id` runs that pipeline as a child run.

The node is an ordinary node message (claim, retry and failure rules of its engine apply) whose handler is
`run_subpipeline`. One delivery of it does exactly one of:

- **start**: no child run of this node generation exists yet: start one (id from `store.children.child_run_id`,
  payload `{"chain_payload": <the parent's payload>, "upstream": {<node>: <result>, ...}}`, plus `groups` for a
  keyed join), link it to the node, then **hand off**: release the node's lease while the child is active and
  end the task (`Ignore`). No worker slot waits for the child; the node stays RUNNING without a lease.
- **adopt**: the child exists and is still active (a redelivery): hand off again.
- **complete**: the child has ended: SUCCESS returns its result document (the node succeeds with it), FAILED
  or SKIPPED raises a retryable error (the node's retry policy applies: a retry starts a new child), CANCELLED
  raises a final error. The error carries the node generation (recorded retries) the child belongs to: the
  runner counts the retry budget from it and records the retry only while the node is still at it, so one
  child outcome gives one retry or one failure however many deliveries (hook, sweep, redelivery) see it.

What sends the completing delivery is the child's terminal transition (`on_run_finished`, called from
`notify_run_finished` wherever a run ends), backed by the reconciler (`sweep`) for a completion whose process
died before publishing it. A run that ends other than SUCCESS cancels its active children (cascade).
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import current_task
from celery.exceptions import Ignore

from pypeline.config.model import PypelineConfig
from pypeline.engines.base import publish_retry_policy
from pypeline.engines.payload import validate_payload
from pypeline.errors import InvalidInputError, InvalidTransitionError, NodeExecutionError
from pypeline.status import Status
from pypeline.store import children
from pypeline.store.models import utcnow
from pypeline.tasks.chained import CONTEXT_KEY

__all__ = ["run_subpipeline", "child_payload", "on_run_finished", "publish_parent_node", "sweep", "SweepReport",
           "STARTED_EVENT", "CASCADE_EVENT"]

log = logging.getLogger(__name__)

#: Parent run event recording a child run started by one of its nodes.
STARTED_EVENT = "subpipeline.started"
#: Child run event recording that its parent's end cancelled it.
CASCADE_EVENT = "cancelled"


class ChildFailedError(NodeExecutionError):
    """The child run of a sub-pipeline node failed or was skipped (the node's retry policy applies)."""

    retryable = True

    def __init__(self, message: str, generation: int) -> None:
        super().__init__(message)
        self.generation = generation


class ChildCancelledError(NodeExecutionError):
    """The child run of a sub-pipeline node was cancelled (final: a cancel is a decision, not a fault)."""


def _runtime() -> Any:
    task = current_task
    runtime = getattr(getattr(task, "app", None), "pypeline", None)
    if runtime is None:
        raise NodeExecutionError("a sub-pipeline node runs only as a node message of a Pypeline worker")
    return runtime


def child_payload(event: dict[str, Any]) -> dict[str, Any]:
    """The child run's payload: the parent's payload and the node's upstream results (and join groups)."""
    payload: dict[str, Any] = {"chain_payload": event.get("chain_payload"), "upstream": event.get("upstream") or {}}
    if "groups" in event:
        payload["groups"] = event["groups"]
    return payload


def run_subpipeline(event: dict[str, Any]) -> Any:
    """Built-in handler of sub-pipeline nodes: start, adopt or complete the node's child run (see module doc)."""
    rt = _runtime()
    run_id, node, instance = event["run_id"], event["node"], event.get("instance") or ""
    pipeline = rt.config.pipeline(event["pipeline_id"])
    target_id = pipeline.nodes[node].pipeline
    if target_id is None:
        raise NodeExecutionError(f"node {node!r} of pipeline {pipeline.id!r} is not a sub-pipeline node")
    engine = rt.store.engine
    attempt, retries = children.generation(engine, run_id, node, instance)
    child_id = children.child_run_id(run_id, attempt, node, instance, retries)
    state = children.child_state(engine, child_id)
    if state is None:
        target = rt.config.pipeline(target_id)
        payload = child_payload(event)
        try:
            validate_payload(target, payload, rt.settings.max_payload_bytes)
        except InvalidInputError as exc:
            raise NodeExecutionError(f"cannot start sub-pipeline {target_id!r}: {exc}") from exc
        rt.launcher.start(target, payload, run_id=child_id, origin=f"pipeline:{pipeline.id}")
        rt.store.add_event(run_id, STARTED_EVENT, {"child_run_id": child_id, "pipeline_id": target_id,
                                                   "instance": instance}, node=node)
        log.info("node %s of run %s started child run %s of %s", node, run_id, child_id, target_id)
    children.link(engine, child_id, run_id, node, instance)
    if children.hand_off(engine, run_id, node, instance, current_task.request.id or "", child_id):
        raise Ignore()  # the child's end re-publishes this node; no worker waits for it
    state = children.child_state(engine, child_id)
    if state is None:  # pragma: no cover - the run was deleted under us (retention of a finished child)
        raise ChildFailedError(f"child run {child_id} vanished", retries)
    return _outcome(state, retries)


def _outcome(state: children.ChildState, generation: int) -> Any:
    """The node's result for an ended child run, or the error that fails (or retries) the node.

    A failure carries the node's recorded retry count the child belongs to: a late copy of the node's
    message (sent when the node was at an earlier count) must not spend a retry budget already spent.
    """
    if state.status is Status.SUCCESS:
        return state.result
    detail = f"child run {state.run_id} of pipeline {state.pipeline_id!r} ended {state.status.value}"
    if state.error:
        detail += f": {state.error}"
    if state.status is Status.CANCELLED:
        raise ChildCancelledError(detail)
    raise ChildFailedError(detail, generation)


def _uses_subpipelines(rt: Any) -> bool:
    config: PypelineConfig | None = getattr(rt, "_config", None)
    if config is None:
        return True  # a store-only runtime (CLI) cannot tell: look at the links
    flag = getattr(rt, "_pypeline_has_subpipelines", None)
    if flag is None:
        flag = any(n.pipeline for p in config.pipelines.values() for n in p.nodes.values())
        rt._pypeline_has_subpipelines = flag
    return bool(flag)


def on_run_finished(rt: Any, run_id: str, status: Status) -> None:
    """A run ended: complete its parent node (re-publish it) and, unless it succeeded, cancel its children."""
    if not _uses_subpipelines(rt):
        return
    try:
        run = rt.store.get_run(run_id)
        if run.get("parent_run_id") and getattr(rt, "_config", None) is not None:
            publish_parent_node(rt, run["parent_run_id"], run["parent_node"], run.get("parent_instance") or "")
        if status is not Status.SUCCESS:
            cancel_children(rt, run_id)
    except Exception:  # noqa: BLE001 - the reconciler's sweep completes parents and cancels orphans later
        log.exception("sub-pipeline hooks of run %s failed; the reconciler will retry them", run_id)


def cancel_children(rt: Any, run_id: str) -> list[str]:
    """Cancel every active child run of `run_id` (each cancel cascades further down); returns those cancelled."""
    done: list[str] = []
    for child_id, engine_name in children.active_children(rt.store.engine, run_id):
        try:
            rt.engine_named(engine_name).cancel(child_id)
        except InvalidTransitionError:
            continue  # it ended meanwhile
        rt.store.add_event(child_id, CASCADE_EVENT, {"by_parent": run_id})
        log.info("cancelled child run %s of run %s", child_id, run_id)
        done.append(child_id)
    return done


def publish_parent_node(rt: Any, parent_run_id: str, node: str, instance: str) -> bool:
    """Send the parent node's message again so a worker completes it; False when it is not waiting."""
    status, _ = rt.store.node_owner(parent_run_id, node, instance)
    if status is not Status.RUNNING:
        return False
    run = rt.store.get_run(parent_run_id)
    pipeline = rt.config.pipeline(run["pipeline_id"])
    spec = pipeline.nodes[node]
    ctx = {"engine": run["engine"], "run_id": parent_run_id, "pipeline_id": pipeline.id, "node": node,
           "instance": instance}
    _, retries = children.generation(rt.store.engine, parent_run_id, node, instance)
    options: dict[str, Any] = {}
    if spec.priority is not None:
        options["priority"] = spec.priority
    rt.celery.send_task(
        spec.handler,
        shadow=f"{pipeline.id}.{node}",
        retry=True,
        retry_policy=publish_retry_policy(rt.settings.publish_retry_seconds),
        kwargs={"event": {"pipeline_id": pipeline.id, "execution_id": parent_run_id, "chain_payload": run["payload"]},
                CONTEXT_KEY: ctx},
        queue=spec.queue,
        soft_time_limit=spec.max_ttl,
        time_limit=spec.hard_time_limit,
        ignore_result=not rt.settings.keep_task_results,
        retries=retries,  # the node's recorded retries: its retry policy counts on from there
        **options,
    )
    return True


class SweepReport:
    """What one sweep did: parent nodes re-published, orphaned children cancelled."""

    def __init__(self) -> None:
        self.completed: list[str] = []
        self.cancelled: list[str] = []

    @property
    def empty(self) -> bool:
        """True when the sweep changed nothing."""
        return not (self.completed or self.cancelled)


def sweep(rt: Any, grace_s: float) -> SweepReport:
    """Reconciler step: finish what a lost hook left undone (parents of ended children, children of ended runs)."""
    report = SweepReport()
    if not _uses_subpipelines(rt):
        return report
    engine = rt.store.engine
    waiting_rows = [] if getattr(rt, "_config", None) is None else \
        children.waiting_parents(engine, utcnow() - timedelta(seconds=grace_s))
    for waiting in waiting_rows:
        try:
            if publish_parent_node(rt, waiting.parent_run_id, waiting.node, waiting.instance):
                report.completed.append(waiting.parent_run_id)
        except Exception:  # noqa: BLE001 - one broken run must not stop the sweep
            log.exception("could not re-publish node %s of run %s", waiting.node, waiting.parent_run_id)
    for child_id, engine_name in children.orphaned_children(engine):
        try:
            rt.engine_named(engine_name).cancel(child_id)
            rt.store.add_event(child_id, CASCADE_EVENT, {"by_parent": "reconciler"})
            report.cancelled.append(child_id)
        except InvalidTransitionError:
            continue
        except Exception:  # noqa: BLE001
            log.exception("could not cancel orphaned child run %s", child_id)
    return report

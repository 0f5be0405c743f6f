"""The event-driven engine: a finishing node atomically releases its ready successors and publishes them.

No polling task and no whole-DAG message: each message carries one node's context (run id, node name,
instance, the invocation payload and, when known, its upstream result). Fan-in and join nodes read
their upstream results from the store. Completion is a guarded status transition, so a redelivered
message of a finished node never releases its successors twice. Split, filter and join rules live in
`pypeline.engines.dataflow`; this module runs them.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pypeline.config.model import NodeConfig, PipelineConfig
from pypeline.engines import signals  # noqa: F401 - connects the one task_failure handler of node messages
from pypeline.engines.base import Engine, publish_retry_policy
from pypeline.engines.dataflow import Dataflow, Inputs, instance_index
from pypeline.engines.runner import NodeInputs, NodeRef, NodeRunner, display_name
from pypeline.status import Status
from pypeline.store.repository import ClaimOutcome, CompletionOutcome, FinishPlan, NodeSpec, summarize
from pypeline.tasks.chained import CONTEXT_KEY

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
        policy = publish_retry_policy(self.rt.settings.publish_retry_seconds)
        payload_repr = summarize(payload, 100)  # once per batch, not a saferepr walk per message
        with app.producer_or_acquire() as producer:  # one connection/channel for the whole batch
            for name, instance in rows:
                node = pipeline.nodes[name]
                ctx: dict[str, Any] = {"engine": self.name, "run_id": run_id, "pipeline_id": pipeline.id,
                                       "node": name, "instance": instance}
                if inline is not None and (name, instance) in inline:
                    ctx["upstream"] = inline[(name, instance)]
                app.send_task(
                    node.handler,
                    shadow=display_name(pipeline.id, name),
                    retry=True,
                    retry_policy=policy,
                    kwargs={"event": {"pipeline_id": pipeline.id, "execution_id": run_id, "chain_payload": payload},
                            CONTEXT_KEY: ctx},
                    argsrepr="()",
                    kwargsrepr=_kwargs_repr(pipeline.id, run_id, name, instance, payload_repr),
                    queue=node.queue,
                    soft_time_limit=node.max_ttl,
                    time_limit=node.hard_time_limit,
                    priority=node.priority,
                    ignore_result=not self.rt.settings.keep_task_results,
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


def _kwargs_repr(pipeline_id: str, run_id: str, node: str, instance: str, payload: str) -> str:
    """What Celery tools show as a node message's kwargs: its ids and a short payload summary.

    Celery would otherwise `saferepr` the whole kwargs per message (a third of a node's publishing CPU).
    """
    where = f"{node}[{instance}]" if instance else node
    return repr({"pipeline_id": pipeline_id, "execution_id": run_id, "node": where, "chain_payload": payload})


class EventNodeRunner(NodeRunner):
    """The event-driven engine's node hooks: dataflow inputs and plans; `after` publishes what became ready."""

    engine: EventDrivenEngine

    def inputs(self, ref: NodeRef, ctx: dict[str, Any], event: dict[str, Any]) -> NodeInputs:
        """Upstream results from the message (single upstream) or the store (fan-in, joins, split elements)."""
        payload = event.get("chain_payload")
        flow = self.engine.flow(ref.pipeline_id)
        found = self._resolve(flow, ref, ctx)
        if found.dropped:
            return NodeInputs(payload=payload, dropped="every upstream was dropped")
        return NodeInputs(payload=payload, upstream=found.upstream,
                          extra=None if found.groups is None else {"groups": found.groups})

    def _resolve(self, flow: Dataflow, ref: NodeRef, ctx: dict[str, Any]) -> Inputs:
        if "upstream" in ctx:
            return Inputs(upstream=ctx["upstream"])
        name, instance, run_id = ref.node, ref.instance, ref.run_id
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
        rows_in = store.instance_results(run_id, [p for p in preds if p != split], instance)
        return flow.resolve_join(name, instance, split_result, rows_in)

    def success_plan(self, ref: NodeRef, node: NodeConfig, result: Any) -> tuple[FinishPlan, Mapping[Pair, Any]]:
        """Release successors (or spawn split instances); a single upstream's result travels inline."""
        return self.engine.flow(ref.pipeline_id).success_plan(ref.node, ref.instance, result)

    def failure_plan(self, ref: NodeRef) -> FinishPlan:
        """Skip every existing downstream row of the failed node."""
        return self.engine.flow(ref.pipeline_id).failure_plan(ref.node, ref.instance)

    def drop_plan(self, ref: NodeRef) -> FinishPlan:
        """Filter rule: nodes fed only by dropped nodes are skipped for this event."""
        return self.engine.flow(ref.pipeline_id).drop_plan(ref.node, ref.instance)

    def after(self, ref: NodeRef, outcome: CompletionOutcome, payload: Any, inline: Mapping[Pair, Any]) -> None:
        """Publish what the change made ready and wake waiters if the run ended."""
        if not outcome.applied:
            return
        pipeline = self.rt.config.pipeline(ref.pipeline_id)
        self.engine.dispatch(pipeline, ref.run_id, outcome.dispatch, payload, inline)
        if outcome.run_status is not None:
            self.rt.notify_run_finished(ref.run_id, outcome.run_status)

    def on_not_claimed(self, ref: NodeRef, claim: ClaimOutcome, ctx: dict[str, Any], event: dict[str, Any]) -> Any:
        """A finished node's message came again: re-publish successors that were queued but may be lost."""
        if claim.status is not Status.SUCCESS:
            return None
        store = self.rt.store
        flow = self.engine.flow(ref.pipeline_id)
        name, instance, run_id = ref.node, ref.instance, ref.run_id
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
            log.warning("redelivered finished node %s of run %s: re-publishing queued %s", ref.label, run_id, rows)
            self.engine.dispatch(self.rt.config.pipeline(ref.pipeline_id), run_id, rows, event.get("chain_payload"))
        return None

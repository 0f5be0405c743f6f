"""What a running node knows about itself (run, node, instance) and the custom run events it emits.

Inside a pipeline node handler::

    from pypeline.tasks.context import emit, events

    emit("progress", {"pct": 50})      # recorded on the run (API: GET run events, CLI: pypeline runs events)
    seen = events("progress")         # events recorded on this run so far, oldest first
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pypeline.errors import InvalidInputError, PypelineError
from pypeline.formats import check_json_size
from pypeline.store.repository import RunStore
from pypeline.tasks.app import runtime_of
from pypeline.tasks.chained import CONTEXT_KEY

__all__ = ["NodeContext", "node_context", "current", "emit", "events", "MAX_EVENT_BYTES"]

#: Largest JSON `data` of one custom event, in bytes.
MAX_EVENT_BYTES = 64_000

_current: ContextVar[NodeContext | None] = ContextVar("pypeline_node_context", default=None)


@dataclass(frozen=True)
class NodeContext:
    """The run context of the node being executed."""

    run_id: str
    pipeline_id: str
    node: str
    instance: str
    store: RunStore

    @property
    def label(self) -> str:
        """`node`, or `node[instance]` for a split instance."""
        return f"{self.node}[{self.instance}]" if self.instance else self.node


@contextmanager
def node_context(ctx: NodeContext) -> Iterator[NodeContext]:
    """Make `ctx` the current node context for the duration of a handler call (async handlers inherit it)."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def current() -> NodeContext:
    """The context of the node running in this thread, or PypelineError outside a pipeline node."""
    ctx = _current.get()
    if ctx is not None:
        return ctx
    from celery import current_task  # a node of another engine: its message carries the same context

    task = current_task
    raw = (getattr(task.request, "kwargs", None) or {}).get(CONTEXT_KEY) if task else None
    runtime = runtime_of(getattr(task, "app", None))
    if isinstance(raw, dict) and runtime is not None:
        return NodeContext(raw["run_id"], raw["pipeline_id"], raw["node"], raw.get("instance", ""), runtime.store)
    raise PypelineError("emit() and events() only work inside a pipeline node handler")


def emit(name: str, data: Any = None) -> int:
    """Record a custom named event on the current run; returns the event id."""
    if not isinstance(name, str) or not 1 <= len(name) <= 200:
        raise InvalidInputError("event name must be a string of 1-200 characters")
    check_json_size(data, MAX_EVENT_BYTES, what="event data")
    ctx = current()
    return ctx.store.add_event(ctx.run_id, name, data, node=ctx.label)


def events(name: str | None = None) -> list[dict[str, Any]]:
    """Events recorded on the current run so far (custom and control events), oldest first."""
    ctx = current()
    return ctx.store.events(ctx.run_id, name)

"""ChainedTask: the Celery Task base that calls a user function as `fn(event=...)`."""
from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from celery import Task

from pypeline.config.model import RetryPolicy
from pypeline.errors import NodeExecutionError
from pypeline.tasks.app import runtime_of
from pypeline.tasks.typed import convert_event

__all__ = ["ChainedTask", "CONTEXT_KEY", "NodeRunner", "call_handler", "retry_countdown"]

#: kwargs key carrying the orchestration context of a node message (run id, node, engine).
CONTEXT_KEY = "_pypeline"


class NodeRunner(Protocol):
    """What an engine provides to execute one node message inside a worker."""

    def run_node(self, task: ChainedTask, ctx: dict[str, Any], event: dict[str, Any]) -> Any:
        """Claim, run, record and hand on one node; returns the node's result."""

    def fail_interrupted(self, ctx: dict[str, Any], task_id: str | None, exc: BaseException, tb: str) -> bool:
        """Fail a node whose task died outside the handler's reach (hard kill); True when recorded."""


def retry_countdown(policy: RetryPolicy | None, request: Any, exc: BaseException) -> float | None:
    """The one retry rule: seconds until the next attempt of a failed call, or None when the failure is final.

    Final when there is no policy, the call was direct (not a message), retries are used up, or Pypeline
    itself rejected the input (a NodeExecutionError that is not retryable would fail the same way again).
    """
    retries = request.retries or 0
    if policy is None or request.called_directly or retries >= policy.max_retry:
        return None
    if isinstance(exc, NodeExecutionError) and not exc.retryable:
        return None
    return policy.countdown(retries, random.random())


def _run_coroutine(coro: Any) -> Any:
    """Run a coroutine to completion from sync worker code, even if a loop is already running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # A running loop in this thread (e.g. an eventlet/gevent or async host): use a private thread.
    import concurrent.futures
    import contextvars

    ctx = contextvars.copy_context()  # keep the node's context (e.g. for emit()) in the private thread
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(ctx.run, asyncio.run, coro).result()


def call_handler(fn: Callable[..., Any], event: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
    """Call `fn` the way its signature allows: `fn(event=...)`, or `fn()` for no-argument handlers."""
    params: Mapping[str, inspect.Parameter]
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}  # builtins without a signature: pass event
    takes_event = "event" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    if takes_event:
        result = fn(*args, event=convert_event(fn, event), **kwargs)  # typed `event`: validated, converted
    elif params or args or kwargs:
        result = fn(*args, **kwargs)
    else:
        result = fn()
    if inspect.isawaitable(result):
        result = _run_coroutine(result)
    return result


class ChainedTask(Task):
    """Base of every generated task: normalises arguments, injects `event`, delegates to the engine."""

    #: The user's function; set on each generated subclass.
    handler: Callable[..., Any] | None = None
    #: Dotted path of the handler (also the task name).
    handler_path: str = ""
    #: Retry policy for plain (non-pipeline) calls, e.g. scheduled tasks; pipeline nodes use their node's.
    retry_policy: RetryPolicy | None = None

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Entry point of every delivery: engine-orchestrated node, or a plain task call."""
        if len(args) == 1 and isinstance(args[0], dict) and not kwargs:
            # Original contract: a single dict argument (an upstream result in a mutable chain) becomes kwargs.
            kwargs, args = dict(args[0]), ()
        ctx = kwargs.pop(CONTEXT_KEY, None)
        event = kwargs.pop("event", None)
        if not isinstance(event, dict):
            event = {} if event is None else {"value": event}
        if ctx is not None:
            runtime = runtime_of(self.app)
            if runtime is None:
                raise NodeExecutionError("a pipeline node ran in a Celery app Pypeline did not build")
            runner = runtime.runner(ctx.get("engine", "event"))
            return runner.run_node(self, ctx, event)
        event.setdefault("task_id", self.request.id)
        try:
            return self.call(event, *args, **kwargs)
        except Exception as exc:
            policy = self.retry_policy
            countdown = retry_countdown(policy, self.request, exc)
            if policy is None or countdown is None:
                raise
            raise self.retry(exc=exc, countdown=countdown, max_retries=policy.max_retry) from exc

    def call(self, event: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        """Call the user function with `event` (sync or async)."""
        if self.handler is None:
            raise TypeError(f"task {self.name} has no handler")
        return call_handler(self.handler, event, *args, **kwargs)

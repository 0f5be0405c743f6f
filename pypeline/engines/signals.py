"""The one `task_failure` handler of node messages: records failures the runner never saw (hard kills)."""
from __future__ import annotations

import logging
from typing import Any

from celery.signals import task_failure

from pypeline.tasks.app import runtime_of
from pypeline.tasks.chained import CONTEXT_KEY

__all__ = ["on_node_task_failure"]

log = logging.getLogger(__name__)


def on_node_task_failure(sender: Any = None, task_id: str | None = None, exception: BaseException | None = None,
                         kwargs: Any = None, einfo: Any = None, **_: Any) -> None:
    """A node's task failed: let its engine's runner fail the node if the runner could not (hard time limit,
    lost worker); failures the runner recorded and store outages are left alone."""
    ctx = kwargs.get(CONTEXT_KEY) if isinstance(kwargs, dict) else None
    if not isinstance(ctx, dict) or exception is None:
        return
    runtime = runtime_of(getattr(sender, "app", None))
    if runtime is None:
        return
    try:
        runner = runtime.runner(ctx.get("engine", "event"))
        runner.fail_interrupted(ctx, task_id, exception, str(getattr(einfo, "traceback", "") or ""))
    except Exception:  # noqa: BLE001 - a signal handler must never take the worker down
        log.exception("could not record the failure of node %s of run %s", ctx.get("node"), ctx.get("run_id"))


# Connected by a call, not as a decorator: celery's decorator is untyped and would erase this signature.
task_failure.connect(on_node_task_failure, weak=False)

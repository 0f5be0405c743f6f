"""The runtime the original's module-level functions use when none is passed (they took no runtime)."""
from __future__ import annotations

import threading

from pypeline.runtime import Runtime
from pypeline.tasks.app import runtime_of

__all__ = ["default_runtime"]

_default: Runtime | None = None
_lock = threading.Lock()


def default_runtime(runtime: Runtime | None = None) -> Runtime:
    """`runtime`, else the worker's own runtime inside a task, else one built once from PYPELINE_CONFIG."""
    global _default
    if runtime is not None:
        return runtime
    from celery import current_task

    current = runtime_of(current_task.app, Runtime) if current_task else None
    if current is not None:
        return current
    with _lock:
        if _default is None:
            _default = Runtime.from_env(register=False)
        return _default

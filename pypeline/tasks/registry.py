"""Dynamic generation: every handler declared in config becomes a registered ChainedTask."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery

from pypeline.config import codes
from pypeline.config.handlers import import_handler
from pypeline.config.model import PypelineConfig, RetryPolicy
from pypeline.errors import ConfigError, ConfigIssue
from pypeline.tasks.chained import ChainedTask

__all__ = ["register_handlers", "import_callable", "make_task_class"]


def import_callable(path: str) -> Callable[..., Any]:
    """Import a declared handler path and return it if callable."""
    obj: object = import_handler(path.strip())
    if not callable(obj):
        raise TypeError(f"handler {path!r} is not callable")
    return obj


def make_task_class(path: str, fn: Callable[..., Any], retry: RetryPolicy | None) -> type[ChainedTask]:
    """A ChainedTask subclass named by the handler path that calls `fn`."""
    return type(
        "ChainedTask_" + path.replace(".", "_"),
        (ChainedTask,),
        {
            "name": path,
            "handler": staticmethod(fn),
            "handler_path": path,
            "retry_policy": retry,
            "__doc__": fn.__doc__ or f"Pypeline task for {path}.",
            "__module__": getattr(fn, "__module__", __name__),
            "typing": False,
        },
    )


def _plain_retry_policy(config: PypelineConfig, path: str) -> RetryPolicy | None:
    for pipe in config.pipelines.values():
        for node in pipe.nodes.values():
            if node.handler == path:
                return node.retry if node.retry.max_retry > 0 else None
    return None


def register_handlers(app: Celery, config: PypelineConfig, service: str | None = None) -> list[str]:
    """Register a task per declared handler (one service's when named); returns the task names."""
    names: list[str] = []
    issues: list[ConfigIssue] = []
    for path in config.handlers_for_service(service):
        try:
            fn = import_callable(path)
        except Exception as exc:  # noqa: BLE001 - every import problem is reported as config
            issues.append(ConfigIssue(f"handler {path!r} could not be imported: {type(exc).__name__}: {exc}",
                                      file=config.path, code=codes.HANDLER.id))
            continue
        task = app.register_task(make_task_class(path, fn, _plain_retry_policy(config, path))())
        names.append(task.name)
    if issues:
        raise ConfigError(issues)
    return names

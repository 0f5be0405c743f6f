"""`shared_task` with a type: Celery ships no type information, so its decorator would make each task untyped."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import celery

__all__ = ["shared_task", "TaskDecorator"]

#: Turns a function into a Celery task (`Any` to mypy, as every Celery object is).
TaskDecorator = Callable[[Callable[..., Any]], Any]


def shared_task(**options: Any) -> TaskDecorator:
    """`celery.shared_task(**options)`: the task is registered on every Celery app, current and future."""
    return cast(TaskDecorator, celery.shared_task(**options))

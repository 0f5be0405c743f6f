"""Publish plain task messages for declared handlers, one event each or a list of items in groups.

This is what the original's `TaskRunner.publish_work` / `publish_work_in_batches` do (see
`pypeline.utils.task_utils`), with the checks the original lacked: the task must be a handler declared
in config, the event must be JSON and within the payload limit, and bad input raises before anything
is sent.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

from pypeline.errors import InvalidInputError
from pypeline.formats import check_json_size
from pypeline.runtime import Runtime

__all__ = ["chunked", "publish_task", "publish_in_groups", "default_queue"]

T = TypeVar("T")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` items, pulled lazily from `items`."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidInputError(f"chunk size must be a positive integer, got {size!r}")
    it = iter(items)
    while True:
        group = list(islice(it, size))
        if not group:
            return
        yield group
        if len(group) < size:
            return


def default_queue(rt: Runtime, task_path: str) -> str:
    """The queue of a task: its pipeline node's queue if it is one, else the first queue the config names."""
    for pipeline in rt.config.pipelines.values():
        for node in pipeline.nodes.values():
            if node.handler == task_path:
                return node.queue
    return rt.config.queues()[0]


def _check_task(rt: Runtime, task_path: Any) -> str:
    if not isinstance(task_path, str) or not task_path.strip():
        raise InvalidInputError(f"task path must be a non-empty string, got {task_path!r}")
    path = task_path.strip()
    if path not in rt.config.handlers:
        raise InvalidInputError(f"task {path!r} is not a handler declared in config "
                                "(serviceConfig.registeredTasks, taskDefinitions or scheduledTasks)")
    return path


def _check_ttl(max_ttl: Any) -> int | None:
    if max_ttl is None:
        return None
    if isinstance(max_ttl, bool) or not isinstance(max_ttl, int) or max_ttl < 1:
        raise InvalidInputError(f"max_ttl must be a positive number of seconds, got {max_ttl!r}")
    return max_ttl


def _check_event(rt: Runtime, event: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidInputError(f"a task payload must be a JSON object, got {type(event).__name__}")
    check_json_size(event, rt.settings.max_payload_bytes, what="task payload")
    return event


def _send(rt: Runtime, path: str, events: list[dict[str, Any]], queue: str | None, max_ttl: int | None) -> list[str]:
    options: dict[str, Any] = {"queue": queue or default_queue(rt, path), "ignore_result": True}
    if max_ttl is not None:
        options.update(soft_time_limit=max_ttl, time_limit=max_ttl + 10)
    ids: list[str] = []
    app = rt.celery
    with app.producer_or_acquire() as producer:
        for event in events:
            task_id = str(uuid.uuid4())
            app.send_task(path, kwargs={"event": event}, task_id=task_id, producer=producer, **options)
            ids.append(task_id)
    return ids


def publish_task(
    rt: Runtime, task_path: str, event: dict[str, Any], *, queue: str | None = None, max_ttl: int | None = None
) -> str:
    """Send one message to a declared handler with `event`; returns the Celery task id."""
    path = _check_task(rt, task_path)
    return _send(rt, path, [_check_event(rt, event)], queue, _check_ttl(max_ttl))[0]


def publish_in_groups(
    rt: Runtime,
    task_path: str,
    items: Iterable[Any],
    *,
    queue: str | None = None,
    grouping_key: str = "tasks",
    max_per_task: int = 5,
    max_ttl: int | None = None,
) -> list[str]:
    """Send `items` to a declared handler in groups of `max_per_task`, each as `event[grouping_key]`; returns task ids.

    Every message is built and checked before the first one is sent, so bad input sends nothing.
    """
    path = _check_task(rt, task_path)
    ttl = _check_ttl(max_ttl)
    if not isinstance(grouping_key, str) or not grouping_key:
        raise InvalidInputError(f"grouping_key must be a non-empty string, got {grouping_key!r}")
    if isinstance(items, str | bytes | dict) or not isinstance(items, Iterable):
        raise InvalidInputError(f"task payload list must be a list, got {type(items).__name__}")
    events = [_check_event(rt, {grouping_key: group}) for group in chunked(items, max_per_task)]
    return _send(rt, path, events, queue, ttl)

"""Only declared tasks run: a raw broker message naming a Celery built-in or any undeclared task is refused."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from celery.result import AsyncResult
from kombu import Connection, Exchange, Producer, Queue

from pypeline.runtime import Runtime
from tests.helpers import Stack, WorkerProcess

pytestmark = [pytest.mark.hostile, pytest.mark.e2e]


def _publish(broker: str, queue: str, task: str) -> str:
    """Publish a protocol-2 task message by hand (no Celery client), as an attacker with broker access would."""
    task_id = str(uuid.uuid4())
    headers = {"lang": "py", "task": task, "id": task_id, "root_id": task_id, "parent_id": None, "group": None,
               "shadow": None, "eta": None, "expires": None, "retries": 0, "timelimit": [None, None],
               "argsrepr": "()", "kwargsrepr": "{}", "origin": "hostile-test"}
    body = [[], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    with Connection(broker) as conn:
        exchange = Exchange(queue, type="direct")
        Producer(conn).publish(body, exchange=exchange, routing_key=queue, serializer="json", headers=headers,
                               declare=[Queue(queue, exchange, routing_key=queue)], retry=True)
    return task_id


def _result(rt: Runtime, task_id: str) -> AsyncResult:
    result = AsyncResult(task_id, app=rt.celery)
    try:
        result.get(timeout=20, propagate=False)
    except Exception as exc:  # noqa: BLE001 - a timeout is reported with the state below
        raise AssertionError(f"no outcome for {task_id} within 20 s (state {result.state})") from exc
    return result


def _stack(tmp_path: Path, redis_url: str) -> Stack:
    return Stack.create(tmp_path, redis_url, f"sqlite:///{tmp_path / 'store.sqlite'}", register=True)


def test_builtin_and_undeclared_tasks_are_refused(tmp_path: Path, redis_url: str,
                                                  start_worker: Callable[..., WorkerProcess]) -> None:
    stack = _stack(tmp_path, redis_url)
    rt, queue = stack.rt, stack.queue
    worker = stack.start_worker(start_worker, "-c", "1", "-P", "threads")
    runs_before = rt.store.list_runs()[1]
    for name in ("celery.backend_cleanup", "celery.chord_unlock", "celery.group", "celery.accumulate",
                 "workflow-processor", "os.system"):
        result = _result(rt, _publish(redis_url, queue, name))
        assert result.state == "FAILURE" and type(result.result).__name__ == "NotRegistered", (name, result.state)
        worker.wait_for_log(f"Received unregistered task of type '{name}'", timeout=10)
    assert f"Task {'celery.backend_cleanup'}[" not in worker.log()  # never accepted for execution
    assert rt.store.list_runs()[1] == runs_before
    # A declared pipeline still runs on the same worker.
    run_id = rt.start_run("diamond", {})
    assert rt.wait(run_id, 30)["status"] == "SUCCESS"


def test_builtins_run_only_when_the_setting_allows_them(tmp_path: Path, redis_url: str,
                                                        start_worker: Callable[..., WorkerProcess]) -> None:
    stack = _stack(tmp_path, redis_url)
    rt, queue = stack.rt, stack.queue
    stack.start_worker(start_worker, "-c", "1", "-P", "threads", PYPELINE_ALLOW_BUILTIN_TASKS="true")
    result = _result(rt, _publish(redis_url, queue, "celery.backend_cleanup"))
    assert result.state == "SUCCESS"
    refused = _result(rt, _publish(redis_url, queue, "os.system"))  # the setting opens Celery's names only
    assert refused.state == "FAILURE"


def test_worker_task_names_follow_the_config(tmp_path: Path, redis_url: str) -> None:
    """The allow-list: declared handlers, the batch driver and the run notifier; the dyrygent processor only if a
    pipeline uses it."""
    from pypeline.runtime import BATCH_DRIVER_TASK, NOTIFY_TASK
    from pypeline.services.batches import DRIVER_TASK
    from pypeline.tasks import notify

    assert BATCH_DRIVER_TASK == DRIVER_TASK and NOTIFY_TASK == notify.NOTIFY_TASK
    rt = _stack(tmp_path, redis_url).rt
    names = rt.worker_task_names()
    assert set(rt.task_names) | {DRIVER_TASK, NOTIFY_TASK} == names
    assert not any(n.startswith("celery.") for n in names)
    uses_dyrygent = any(p.engine == "dyrygent" for p in rt.config.pipelines.values())
    assert ("workflow-processor" in names) == uses_dyrygent

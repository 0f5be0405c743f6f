"""One child outcome completes its sub-pipeline node once, however often the node's message is delivered.

The parent node's message is sent when its child ends (the run-finished hook), again by the reconciler's sweep,
and again by a broker redelivery; a copy sent while the node was at retry count N may arrive after the node
moved on to N+1 and its newer child ended. That late copy must neither grant a second retry (its own message
retry count is stale) nor start another child.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from pypeline.engines import subpipelines
from pypeline.runtime import Runtime
from pypeline.status import Status
from pypeline.store import children
from tests.helpers import wait_until
from tests.subpipelines import handlers


def _sub(rt: Runtime, run_id: str) -> dict[str, Any]:
    return next(n for n in rt.store.node_runs(run_id) if n["node"] == "sub")


def _kids(rt: Runtime, run_id: str) -> list[dict[str, Any]]:
    return children.children_of(rt.store.engine, run_id)


def _handed_off(rt: Runtime, run_id: str, kids: int) -> bool:
    sub = _sub(rt, run_id)
    return len(_kids(rt, run_id)) == kids and sub["status"] == "RUNNING" and sub["lease_expires_at"] is None


def _publish_captured(rt: Runtime, run_id: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """Send the parent node's message the way the hook does, and return that send's arguments."""
    sent: list[tuple[Any, Any]] = []
    real = rt.celery.send_task

    def capture(*args: Any, **kwargs: Any) -> Any:
        sent.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(rt.celery, "send_task", capture)
    try:
        assert subpipelines.publish_parent_node(rt, run_id, "sub", "")
    finally:
        monkeypatch.setattr(rt.celery, "send_task", real)
    assert len(sent) == 1 and sent[0][1]["retries"] == 0
    return sent[0]


def test_a_late_copy_of_the_parent_nodes_message_grants_no_second_retry(
    sub_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = sub_runtime(reconcile_interval=3600.0)  # the test sends every completing message itself
    monkeypatch.setattr(subpipelines, "on_run_finished", lambda *a, **k: None)
    with rt.embedded_worker(concurrency=2):
        run_id = rt.start_run("parent_of_gated_broken", {})
        wait_until(lambda: _handed_off(rt, run_id, 1))
        handlers.RELEASE.set()
        wait_until(lambda: _kids(rt, run_id)[0]["status"] == "FAILED")
        handlers.RELEASE.clear()

        # The hook's message for the first child's failure: the node retries (maxRetry 1) with a new child.
        args, kwargs = _publish_captured(rt, run_id, monkeypatch)
        wait_until(lambda: _handed_off(rt, run_id, 2))
        assert _sub(rt, run_id)["retries"] == 1
        handlers.RELEASE.set()
        wait_until(lambda: _kids(rt, run_id)[1]["status"] == "FAILED")

        # Two late copies of that first message (sent at retry count 0) complete the node from the second
        # child's failure: the retry budget is the node's recorded one (used up), so the node fails.
        rt.celery.send_task(*args, **kwargs)
        rt.celery.send_task(*args, **kwargs)
        record = rt.wait(run_id, 30)
        time.sleep(0.5)  # a wrongly granted retry would start its child now
    assert record["status"] == "FAILED" and record["failed_node"] == "sub"
    kids = _kids(rt, run_id)
    assert [k["status"] for k in kids] == ["FAILED", "FAILED"]
    sub = _sub(rt, run_id)
    assert sub["status"] == "FAILED" and sub["retries"] == 1 and kids[1]["id"] in str(sub["error"])
    assert rt.store.run_status(run_id) is Status.FAILED

"""End to end with real `pypeline worker` processes on Redis and PostgreSQL: the worker that started a child run
(and runs its node) is killed -9; the link survives and a new worker finishes the child and then the parent."""
from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pypeline.runtime import Runtime
from pypeline.settings import Settings
from pypeline.store import children
from tests.helpers import WorkerProcess
from tests.subpipelines.support import config_copy

pytestmark = pytest.mark.e2e


def _wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_a_killed_worker_loses_neither_the_link_nor_the_parent_completion(
    tmp_path: Path, redis_url: str, postgres_url: str, start_worker: Callable[..., WorkerProcess]
) -> None:
    home, gate = tmp_path / "home", tmp_path / "gate"
    config = config_copy(tmp_path)
    env = {"PYPELINE_BROKER_URL": redis_url, "PYPELINE_DATABASE_URL": postgres_url, "PYPELINE_HOME": str(home),
           "SUBPIPE_GATE": str(gate), "PYPELINE_LEASE_SECONDS": "3", "PYPELINE_RECONCILE_INTERVAL": "0.5"}
    first = start_worker(config, "-c", "2", "-n", "first@%h", env=env)
    rt = Runtime.from_path(str(config), Settings(config_path=str(config), broker_url=redis_url,
                                                 database_url=postgres_url, home=home), register=False)
    run_id = rt.start_run("parent_of_slow", {})

    def child_node() -> dict[str, object] | None:
        kids = children.children_of(rt.store.engine, run_id)
        return rt.store.node_runs(kids[0]["id"])[0] if kids else None

    _wait_for(lambda: (child_node() or {}).get("status") == "RUNNING")
    sub = rt.store.node_runs(run_id)[0]
    assert sub["status"] == "RUNNING" and sub["lease_expires_at"] is None  # handed off: the task ended already
    os.killpg(first.proc.pid, signal.SIGKILL)  # it runs the child's node: nothing acks, nothing completes
    first.proc.wait(10)

    child_id = children.children_of(rt.store.engine, run_id)[0]["id"]
    child = rt.store.get_run(child_id)
    assert (child["parent_run_id"], child["parent_node"], child["status"]) == (run_id, "sub", "RUNNING")
    start_worker(config, "-c", "2", "-n", "second@%h", env=env)
    gate.touch()  # the child's node, re-run by the second worker after its lease expired, returns at once

    record = rt.wait(run_id, 90)
    assert record["status"] == "SUCCESS", record
    assert record["result"] == {"sub": {"wait": "released"}}
    assert rt.store.get_run(child_id)["status"] == "SUCCESS"
    assert len(children.children_of(rt.store.engine, run_id)) == 1  # adopted, never started twice
    assert rt.store.node_runs(child_id)[0]["attempts"] == 2  # the killed attempt, then the healed one

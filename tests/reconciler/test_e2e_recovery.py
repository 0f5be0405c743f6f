"""End to end with real `pypeline worker` processes on Redis and PostgreSQL, default lease settings: a worker
killed -9 mid-node is healed by the surviving worker's reconciler; maxRunTtl terminates a running node."""
from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.helpers import Stack, WorkerProcess, wait_until

pytestmark = pytest.mark.e2e
PIPELINES = Path(__file__).parent / "pipelines.yaml"


def _lines(trace: Path) -> list[str]:
    return trace.read_text().splitlines() if trace.exists() else []


def test_worker_killed_mid_node_is_healed_within_60s(tmp_path: Path, redis_url: str, postgres_url: str,
                                                     start_worker: Callable[..., WorkerProcess]) -> None:
    stack = Stack.create(tmp_path, redis_url, postgres_url, source=PIPELINES)
    # default lease, heartbeat and reconcile interval
    workers = [stack.start_worker(start_worker, "-c", "1", "-n", f"w{i}@%h") for i in range(2)]
    rt = stack.rt
    trace = tmp_path / "trace"

    run_id = rt.start_run("chain", {"trace": str(trace), "sleep": 4})
    wait_until(lambda: "b start" in _lines(trace), timeout=60)
    holder = next(n["lease_holder"] for n in rt.store.node_runs(run_id) if n["node"] == "b")
    victim = next(w for w in workers if holder.endswith(f":{w.proc.pid}"))
    os.killpg(victim.proc.pid, signal.SIGKILL)  # main process and pool child: nothing acks or requeues
    victim.proc.wait(10)
    killed_at = time.monotonic()

    record = rt.wait(run_id, 60)
    healed_in = time.monotonic() - killed_at
    assert record["status"] == "SUCCESS", record
    print(f"healed in {healed_in:.1f} s")
    assert healed_in < 60
    lines = _lines(trace)
    assert lines.count("b start") == 2 and lines.count("b end") == 1  # the killed copy never finished
    assert lines.count("a ran") == 1 and lines.count("c ran") == 1  # successors dispatched once
    nodes = {n["node"]: n for n in rt.store.node_runs(run_id)}
    assert nodes["b"]["attempts"] == 2 and all(n["status"] == "SUCCESS" for n in nodes.values())
    assert [e["name"] for e in rt.store.events(run_id)] == ["recovered"]


def test_max_run_ttl_revokes_the_running_node(tmp_path: Path, redis_url: str, postgres_url: str,
                                              start_worker: Callable[..., WorkerProcess]) -> None:
    stack = Stack.create(tmp_path, redis_url, postgres_url, source=PIPELINES)
    stack.start_worker(start_worker, "-c", "1", PYPELINE_RECONCILE_INTERVAL="0.5")
    rt = stack.rt
    trace = tmp_path / "trace"

    run_id = rt.start_run("bounded", {"trace": str(trace), "sleep": 60})
    record = rt.wait(run_id, 30)
    assert record["status"] == "FAILED" and record["error"] == "run exceeded maxRunTtl of 2 s"
    nodes = {n["node"]: n for n in rt.store.node_runs(run_id)}
    assert nodes["nap"]["status"] == "FAILED" and nodes["after"]["status"] == "SKIPPED"
    timed_out = rt.store.events(run_id, "timed_out")
    assert timed_out[0]["data"]["revoked"] == [nodes["nap"]["task_id"]]
    # Revoked with terminate: the handler's process is killed, so it never reaches its end.
    second = rt.start_run("chain", {"trace": str(trace), "sleep": 0})  # the worker is free again at once
    assert rt.wait(second, 30)["status"] == "SUCCESS"
    assert _lines(trace)[0] == "nap start" and "nap end" not in _lines(trace)


def test_pool_child_killed_mid_node_recovers_quickly(tmp_path: Path, redis_url: str, postgres_url: str,
                                                     start_worker: Callable[..., WorkerProcess]) -> None:
    """WorkerLostError requeues the message at once, while the node's lease still looks live: the heartbeat
    releases the lease of the vanished task and the reconciler re-runs the node within seconds."""
    stack = Stack.create(tmp_path, redis_url, postgres_url, source=PIPELINES)
    worker = stack.start_worker(start_worker, "-c", "1")
    rt = stack.rt
    trace = tmp_path / "trace"

    run_id = rt.start_run("chain", {"trace": str(trace), "sleep": 3})
    wait_until(lambda: "b start" in _lines(trace), timeout=60)
    children = psutil.Process(worker.proc.pid).children()
    assert len(children) == 1
    children[0].kill()
    killed_at = time.monotonic()

    record = rt.wait(run_id, 30)
    assert record["status"] == "SUCCESS", record
    healed_in = time.monotonic() - killed_at
    print(f"healed in {healed_in:.1f} s")
    assert healed_in < 20  # not a whole lease: the vanished task's lease was released
    # Either the redelivered message found the lease already released, or the reconciler re-published the node.
    assert {e["name"] for e in rt.store.events(run_id)} <= {"recovered"}
    lines = _lines(trace)
    assert lines.count("b start") == 2 and lines.count("b end") == 1 and lines.count("c ran") == 1
    assert {n["node"]: n["attempts"] for n in rt.store.node_runs(run_id)} == {"a": 1, "b": 2, "c": 1}

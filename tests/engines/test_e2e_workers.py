"""End to end with real `pypeline worker` processes and the PostgreSQL store: dataflow on Redis (prefork)
and RabbitMQ (threads), cancel terminating a running node, soft/hard time limits, queue and priority."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pypeline.runtime import Runtime
from pypeline.services import runs as run_service
from pypeline.services.invoke import invoke
from tests.helpers import Stack, WorkerProcess, assert_stays, wait_until

pytestmark = pytest.mark.e2e
PIPELINES = Path(__file__).parent / "e2e_pipelines.yaml"
#: publish_report of the `orders` pipeline for {"count": 9}: orders 2..8 (0 and 1 have no amount).
EXPECTED_REPORT = {"customers": 3, "grand_total": round(sum(i * 10 - 10 for i in range(2, 9)) * 1.2, 2),
                   "priced_events": 7}


def _nodes(rt: Runtime, run_id: str) -> dict[str, dict[str, Any]]:
    return {n["node"] + (f"[{n['instance']}]" if n["instance"] else ""): n for n in rt.store.node_runs(run_id)}


def _check_orders(rt: Runtime, record: dict[str, Any]) -> None:
    assert record["status"] == "SUCCESS", record
    assert record["result"] == {"publish_report": EXPECTED_REPORT}
    nodes = _nodes(rt, record["id"])
    assert nodes["validate_order[0]"]["status"] == "SKIPPED" and nodes["price_order[0]"]["status"] == "SKIPPED"
    assert nodes["totals_by_customer"]["result"]["c2"]["orders"] == [2, 5, 8]
    assert len(run_service.run_events(rt, record["id"])) == 7  # one `priced` event per priced order


def test_redis_prefork_dataflow_timeouts_cancel_and_routing(tmp_path: Path, redis_url: str, postgres_url: str,
                                                             start_worker: Callable[..., WorkerProcess]) -> None:
    stack = Stack.create(tmp_path, redis_url, postgres_url, source=PIPELINES)
    worker = stack.start_worker(start_worker, "-c", "3")
    rt, queue = stack.rt, stack.queue
    trace = tmp_path / "trace"

    hard = invoke(rt, "hard_timeout", {"sleep": 60, "trace": str(trace)})  # holds a process for ~11 s
    soft = invoke(rt, "soft_timeout", {"sleep": 3})
    orders = invoke(rt, "orders", {"count": 9})
    routed = invoke(rt, "routed")

    _check_orders(rt, rt.wait(orders, 60))  # async + typed node in prefork processes

    record = rt.wait(routed, 30)
    assert record["status"] == "SUCCESS"
    nodes = _nodes(rt, routed)
    assert nodes["plain"]["result"]["queue"] == queue
    assert nodes["urgent"]["result"]["queue"] == f"{queue}-high" and nodes["urgent"]["result"]["priority"] == 7

    record = rt.wait(soft, 30)
    nap = _nodes(rt, soft)["nap"]
    assert record["status"] == "FAILED" and record["failed_node"] == "nap"
    assert nap["error"].startswith("SoftTimeLimitExceeded") and nap["attempts"] == 2 and nap["retries"] == 1
    assert _nodes(rt, soft)["after"]["status"] == "SKIPPED"

    # cancel: the running node's process is terminated, its successors never start
    slow = invoke(rt, "slow", {"sleep": 60, "trace": str(trace)})
    wait_until(lambda: rt.store.node_statuses(slow).get("nap") == "RUNNING")
    task_id = _nodes(rt, slow)["nap"]["task_id"]
    assert run_service.cancel_run(rt, slow)["status"] == "CANCELLED"
    worker.wait_for_log(f"Terminating {task_id}", timeout=20)
    assert rt.store.node_statuses(slow) == {"nap": "CANCELLED", "b": "CANCELLED", "c": "CANCELLED"}

    # hard time limit: the process is killed; the worker's main process fails the node in the store
    record = rt.wait(hard, 40)
    nodes = _nodes(rt, hard)
    assert record["status"] == "FAILED" and record["failed_node"] == "stubborn"
    assert nodes["stubborn"]["error"].startswith("TimeLimitExceeded: hard time limit (11")
    assert nodes["after"]["status"] == "SKIPPED"
    lines = trace.read_text().splitlines()
    assert "stubborn start" in lines and "stubborn ignored soft limit" in lines and "stubborn end" not in lines
    assert "nap start" in lines and "nap end" not in lines and not any(line.startswith("b ") for line in lines)

    # the pool replaced the killed processes: the worker still runs pipelines
    assert rt.wait(invoke(rt, "routed"), 30)["status"] == "SUCCESS"


def test_rabbitmq_threads_dataflow_and_pause(tmp_path: Path, amqp_url: str, postgres_url: str,
                                             start_worker: Callable[..., WorkerProcess]) -> None:
    stack = Stack.create(tmp_path, amqp_url, postgres_url, source=PIPELINES)
    stack.start_worker(start_worker, "-P", "threads", "-c", "4")
    rt = stack.rt
    trace = tmp_path / "trace"

    slow = invoke(rt, "slow", {"sleep": 0.5, "trace": str(trace)})
    orders = invoke(rt, "orders", {"count": 9})
    wait_until(lambda: rt.store.node_statuses(slow).get("nap") == "RUNNING")
    run_service.pause_run(rt, slow)

    _check_orders(rt, rt.wait(orders, 60))  # async + typed node in a threads pool

    wait_until(lambda: rt.store.node_statuses(slow)["nap"] == "SUCCESS")
    assert_stays(lambda: rt.store.node_statuses(slow)["b"] == "PENDING", 0.5, message="a paused run starts no node")
    assert rt.store.run_status(slow).value == "PAUSED"
    run_service.resume_run(rt, slow)
    record = rt.wait(slow, 30)
    assert record["status"] == "SUCCESS"
    assert [line.split()[0] for line in trace.read_text().splitlines()] == ["nap", "nap", "b", "c"]

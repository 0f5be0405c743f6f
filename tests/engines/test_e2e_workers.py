"""End to end with real `pypeline worker` processes and the PostgreSQL store: dataflow on Redis (prefork)
and RabbitMQ (threads), cancel terminating a running node, soft/hard time limits, queue and priority."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pypeline.runtime import Runtime
from pypeline.services import runs as run_service
from pypeline.services.invoke import invoke
from pypeline.settings import Settings
from tests.helpers import WorkerProcess, unique_queue_config, wait_for_log

pytestmark = pytest.mark.e2e
PIPELINES = Path(__file__).parent / "e2e_pipelines.yaml"
#: publish_report of the `orders` pipeline for {"count": 9}: orders 2..8 (0 and 1 have no amount).
EXPECTED_REPORT = {"customers": 3, "grand_total": round(sum(i * 10 - 10 for i in range(2, 9)) * 1.2, 2),
                   "priced_events": 7}


def _client(config: Path, broker: str, database: str, home: Path) -> Runtime:
    settings = Settings(config_path=str(config), broker_url=broker, database_url=database, home=home)
    return Runtime.from_path(str(config), settings, register=False)


def _env(broker: str, database: str, home: Path) -> dict[str, str]:
    return {"PYPELINE_BROKER_URL": broker, "PYPELINE_DATABASE_URL": database, "PYPELINE_HOME": str(home)}


def _nodes(rt: Runtime, run_id: str) -> dict[str, dict[str, Any]]:
    return {n["node"] + (f"[{n['instance']}]" if n["instance"] else ""): n for n in rt.store.node_runs(run_id)}


def _wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def _check_orders(rt: Runtime, record: dict[str, Any]) -> None:
    assert record["status"] == "SUCCESS", record
    assert record["result"] == {"publish_report": EXPECTED_REPORT}
    nodes = _nodes(rt, record["id"])
    assert nodes["validate_order[0]"]["status"] == "SKIPPED" and nodes["price_order[0]"]["status"] == "SKIPPED"
    assert nodes["totals_by_customer"]["result"]["c2"]["orders"] == [2, 5, 8]
    assert len(run_service.run_events(rt, record["id"])) == 7  # one `priced` event per priced order


def test_redis_prefork_dataflow_timeouts_cancel_and_routing(tmp_path: Path, redis_url: str, postgres_url: str,
                                                             start_worker: Callable[..., WorkerProcess]) -> None:
    home = tmp_path / "home"
    config, queue = unique_queue_config(tmp_path, PIPELINES)
    worker = start_worker(config, "-c", "3", env=_env(redis_url, postgres_url, home))
    rt = _client(config, redis_url, postgres_url, home)
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
    _wait_for(lambda: rt.store.node_statuses(slow).get("nap") == "RUNNING")
    task_id = _nodes(rt, slow)["nap"]["task_id"]
    assert run_service.cancel_run(rt, slow)["status"] == "CANCELLED"
    wait_for_log(worker, f"Terminating {task_id}", timeout=20)
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
    home = tmp_path / "home"
    config, _ = unique_queue_config(tmp_path, PIPELINES)
    start_worker(config, "-P", "threads", "-c", "4", env=_env(amqp_url, postgres_url, home))
    rt = _client(config, amqp_url, postgres_url, home)
    trace = tmp_path / "trace"

    slow = invoke(rt, "slow", {"sleep": 0.5, "trace": str(trace)})
    orders = invoke(rt, "orders", {"count": 9})
    _wait_for(lambda: rt.store.node_statuses(slow).get("nap") == "RUNNING")
    run_service.pause_run(rt, slow)

    _check_orders(rt, rt.wait(orders, 60))  # async + typed node in a threads pool

    _wait_for(lambda: rt.store.node_statuses(slow)["nap"] == "SUCCESS")
    time.sleep(0.5)
    assert rt.store.node_statuses(slow)["b"] == "PENDING" and rt.store.run_status(slow).value == "PAUSED"
    run_service.resume_run(rt, slow)
    record = rt.wait(slow, 30)
    assert record["status"] == "SUCCESS"
    assert [line.split()[0] for line in trace.read_text().splitlines()] == ["nap", "nap", "b", "c"]

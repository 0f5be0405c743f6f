"""End to end: real `pypeline worker` processes on Redis, RabbitMQ and the embedded broker."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pypeline.runtime import Runtime
from pypeline.services.invoke import invoke
from tests.helpers import Stack, WorkerProcess, client_runtime, unique_queue_config, wait_until, worker_env

pytestmark = pytest.mark.e2e
PIPELINES = Path(__file__).parent / "pipelines.yaml"
EXPECTED_DEMO = {"load": {"inputs": ["clean", "enrich"], "kept": 2, "total": 60}}


def _run_all(rt: Runtime) -> dict[str, dict[str, Any]]:
    demo = invoke(rt, "demo", {"count": 4})
    failing = invoke(rt, "failing")
    return {"demo": rt.wait(demo, 60), "failing": rt.wait(failing, 60)}


def _check(rt: Runtime, runs: dict[str, dict[str, Any]]) -> None:
    demo = runs["demo"]
    assert demo["status"] == "SUCCESS", demo
    assert demo["result"] == EXPECTED_DEMO
    nodes = {n["node"]: n for n in rt.store.node_runs(demo["id"])}
    assert set(nodes) == {"fetch", "clean", "enrich", "load"}
    assert all(n["status"] == "SUCCESS" and n["attempts"] == 1 and n["started_at"] and n["finished_at"]
               for n in nodes.values())
    assert nodes["load"]["result"] == EXPECTED_DEMO["load"]

    failing = runs["failing"]
    assert failing["status"] == "FAILED" and failing["failed_node"] == "boom"
    assert "ValueError: node boom always fails" in failing["error"]
    fnodes = {n["node"]: n for n in rt.store.node_runs(failing["id"])}
    assert {k: v["status"] for k, v in fnodes.items()} == {
        "start": "SUCCESS", "boom": "FAILED", "side": "SUCCESS", "never": "SKIPPED"}
    assert fnodes["boom"]["retries"] == 1 and fnodes["boom"]["attempts"] == 2
    assert "Traceback" in fnodes["boom"]["traceback"]


def test_redis_broker_postgres_store(tmp_path: Path, redis_url: str, postgres_url: str,
                                     start_worker: Callable[..., WorkerProcess]) -> None:
    stack = Stack.create(tmp_path, redis_url, postgres_url, source=PIPELINES)
    stack.start_worker(start_worker, "-c", "2")
    rt = stack.rt
    _check(rt, _run_all(rt))


def test_rabbitmq_broker_postgres_store(tmp_path: Path, amqp_url: str, postgres_url: str,
                                        start_worker: Callable[..., WorkerProcess]) -> None:
    stack = Stack.create(tmp_path, amqp_url, postgres_url, source=PIPELINES)
    stack.start_worker(start_worker, "-c", "2")
    rt = stack.rt
    _check(rt, _run_all(rt))


def test_embedded_broker_with_separate_worker_process(tmp_path: Path,
                                                      start_worker: Callable[..., WorkerProcess]) -> None:
    home = tmp_path / "home"
    sqlite = f"sqlite:///{home / 'pypeline.sqlite'}"
    stack = Stack.create(tmp_path, "embedded://", sqlite, source=PIPELINES)
    stack.start_worker(start_worker, "-c", "2")
    rt = stack.rt
    _check(rt, _run_all(rt))


def test_cli_run_embedded_default_prints_result(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYPELINE_", "CELERY_", "REDIS_URL"))}
    env["PYPELINE_HOME"] = str(tmp_path / "home")
    cmd = [sys.executable, "-m", "pypeline", "run", str(PIPELINES), "demo", "--payload", '{"count": 4}', "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["status"] == "SUCCESS" and record["result"] == EXPECTED_DEMO
    assert [n["status"] for n in record["nodes"]] == ["SUCCESS"] * 4
    failing = subprocess.run([*cmd[:5], "failing"], capture_output=True, text=True, env=env, timeout=120,
                             cwd=tmp_path)
    assert failing.returncode == 1 and "FAILED" in failing.stderr and "boom" in failing.stderr


def test_worker_killed_mid_node_loses_nothing(tmp_path: Path, amqp_url: str, postgres_url: str,
                                              start_worker: Callable[..., WorkerProcess]) -> None:
    """kill -9 during a node: RabbitMQ redelivers (acks_late), the node completes once, its child runs once."""
    stack = Stack.create(tmp_path, amqp_url, postgres_url, source=PIPELINES)
    first = stack.start_worker(start_worker, "-c", "1")
    rt = stack.rt
    run_id = invoke(rt, "slow", {"sleep": 3})
    wait_until(lambda: rt.store.node_statuses(run_id).get("nap") == "RUNNING", message="node nap started")
    first.kill()
    stack.start_worker(start_worker, "-c", "1")
    run = rt.wait(run_id, 60)
    assert run["status"] == "SUCCESS", run
    nodes = {n["node"]: n for n in rt.store.node_runs(run_id)}
    assert nodes["nap"]["attempts"] == 2 and nodes["nap"]["status"] == "SUCCESS"
    assert nodes["after"]["attempts"] == 1
    assert run["result"] == {"after": {"node": "after", "saw": ["nap"]}}


def test_celery_a_pypeline_celery_worker(tmp_path: Path, redis_url: str, sqlite_url: str) -> None:
    """`celery -A pypeline.celery worker` reads PYPELINE_CONFIG and runs the same nodes."""
    config, queue = unique_queue_config(tmp_path, PIPELINES)
    env = {**os.environ, **worker_env(redis_url, sqlite_url, tmp_path / "home"), "PYPELINE_CONFIG": str(config)}
    log = tmp_path / "celery.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "pypeline.celery", "worker", "-Q", queue,
                                 "-c", "2", "-l", "INFO", "--without-gossip", "--without-mingle"],
                                stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True)
    worker = WorkerProcess(proc, log)
    try:
        worker.wait_for_log("ready.", timeout=60)
        rt = client_runtime(config, redis_url, sqlite_url, tmp_path / "home")
        run = rt.wait(invoke(rt, "demo", {"count": 4}), 60)
        assert run["status"] == "SUCCESS" and run["result"] == EXPECTED_DEMO
    finally:
        worker.stop()

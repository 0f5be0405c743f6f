"""End to end: batches over 1,000+ keys through a real `pypeline worker` (Redis broker, PostgreSQL store).

Every chunk run pushes its keys to a Redis list, so "every key exactly once" is checked on what the
handlers really processed, not on the store's bookkeeping.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from pypeline.runtime import Runtime
from pypeline.services import batches
from tests.e2e.batch_support import write_config
from tests.helpers import ROOT, WorkerProcess, client_runtime, poll_until, wait_until, worker_env

pytestmark = pytest.mark.e2e


def _files(root: Path, n: int) -> list[str]:
    keys = []
    for i in range(n):
        key = f"part-{i % 7}/{i:05d}.csv"
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_text(f"{i}\n")
        keys.append(key)
    return sorted(keys)


def _env(broker: str, database: str, home: Path) -> dict[str, str]:
    """A worker's environment, importable handlers included (the CLI driver below is no WorkerProcess)."""
    return worker_env(broker, database, home,
                      PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def _wait(rt: Runtime, batch_run_id: str, until: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
    return poll_until(lambda: batches.batch_status(rt, batch_run_id), until, timeout, interval=0.1,
                      message=f"batch run {batch_run_id}")


def _recorded(redis_url: str, name: str) -> list[str]:
    return [k.decode() for k in redis.Redis.from_url(redis_url).lrange(name, 0, -1)]


def _assert_exactly_once(got: list[str], keys: list[str]) -> None:
    dupes = sorted({k for k in got if got.count(k) > 1}) if len(got) != len(set(got)) else []
    assert not dupes, f"{len(dupes)} keys processed more than once, e.g. {dupes[:5]}"
    missing = sorted(set(keys) - set(got))
    assert not missing, f"{len(missing)} keys never processed, e.g. {missing[:5]}"
    assert sorted(got) == keys


def test_batch_of_1200_keys_driven_by_the_worker(tmp_path: Path, redis_url: str, postgres_url: str,
                                                 start_worker: Callable[..., WorkerProcess]) -> None:
    keys = _files(tmp_path / "data", 1200)
    config, _ = write_config(tmp_path, data_dir=tmp_path / "data")
    home = tmp_path / "home"
    start_worker(config, "-c", "2", env=_env(redis_url, postgres_url, home))
    rt = client_runtime(config, redis_url, postgres_url, home)
    name = f"e2e-{uuid.uuid4().hex}"

    record = batches.start_batch(rt, "files", overrides={"payload": {"redis_url": redis_url, "record_list": name}})
    assert record["status"] == "RUNNING" and record["driver"] == "worker"  # returned at once, a worker drives
    final = _wait(rt, record["id"], lambda r: r["terminal"], timeout=60)

    assert final["status"] == "SUCCESS", final
    assert (final["keys_listed"], final["chunks_dispatched"], final["chunks_succeeded"]) == (1200, 48, 48)
    assert final["listing_done"] and final["cursor"] == keys[-1]
    _assert_exactly_once(_recorded(redis_url, name), keys)
    assert rt.store.list_runs(origin=f"batch:{record['id']}", status="SUCCESS", limit=1)[1] == 48


def test_killed_cli_driver_and_a_stop_then_resume_process_every_key_once(
    tmp_path: Path, redis_url: str, postgres_url: str, start_worker: Callable[..., WorkerProcess]
) -> None:
    keys = _files(tmp_path / "data", 1000)
    config, _ = write_config(tmp_path, data_dir=tmp_path / "data")
    home = tmp_path / "home"
    env = _env(redis_url, postgres_url, home)
    start_worker(config, "-c", "2", env=env)
    rt = client_runtime(config, redis_url, postgres_url, home)
    name = f"e2e-{uuid.uuid4().hex}"
    payload = json.dumps({"redis_url": redis_url, "record_list": name, "sleep": 0.03})

    # 1. Drive in the foreground with the CLI, then kill -9 it mid-batch.
    exe = shutil.which("pypeline")
    cmd = [exe] if exe else [sys.executable, "-m", "pypeline"]
    cli = subprocess.Popen([*cmd, "batch", "run", "files", "--config", str(config), "--chunk-size", "10",
                            "--concurrency", "3", "--payload", payload, "--json"],
                           env={**os.environ, **env}, cwd=str(tmp_path), start_new_session=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        runs = wait_until(lambda: batches.list_batch_runs(rt, 5, 0)[0], 30, message="the CLI started a batch run")
        batch_run_id = runs[0]["id"]
        _wait(rt, batch_run_id, lambda r: r["keys_listed"] >= 250, timeout=30)
    finally:
        os.killpg(cli.pid, signal.SIGKILL)
        cli.wait(10)
    killed = batches.batch_status(rt, batch_run_id)
    assert killed["status"] == "RUNNING" and killed["driver"] == "local" and not killed["listing_done"], killed

    # 2. Resume on the workers' driver, stop it part-way, resume again.
    batches.resume_batch(rt, batch_run_id)
    _wait(rt, batch_run_id, lambda r: r["keys_listed"] >= killed["keys_listed"] + 200, timeout=30)
    stopped = batches.stop_batch(rt, batch_run_id)
    assert stopped["status"] == "PAUSED" and not stopped["listing_done"]
    # A chunk whose message was lost while its driver died is healed by the reconciler (overdue QUEUED
    # re-published after 30 s, or an expired lease): the defaults promise that within 60 s.
    _wait(rt, batch_run_id, lambda r: r["chunks_running"] + r["chunks_unstarted"] == 0, timeout=75)
    paused = batches.batch_status(rt, batch_run_id)
    assert paused["keys_listed"] == stopped["keys_listed"]  # nothing dispatched while stopped

    batches.resume_batch(rt, batch_run_id)
    final = _wait(rt, batch_run_id, lambda r: r["terminal"], timeout=60)
    assert final["status"] == "SUCCESS", final
    assert (final["keys_listed"], final["chunks_dispatched"], final["chunks_succeeded"]) == (1000, 100, 100)
    _assert_exactly_once(_recorded(redis_url, name), keys)

"""Plain Celery tooling beside Pypeline (issue 13 acceptance): `celery -A pypeline.celery worker` with no -Q,
`celery -A pypeline.celery beat` with no --scheduler, Flower's API and `celery result` on Redis + PostgreSQL."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pypeline.runtime import Runtime
from pypeline.scheduler.dispatch import origin_of
from pypeline.settings import Settings
from tests.helpers import ROOT, free_port, stop_process_group, wait_until

pytestmark = pytest.mark.e2e
CONFIG = Path(__file__).parent / "tools.yaml"


def _wait(check: Callable[[], Any], what: str, timeout: float = 60.0, procs: tuple[Proc, ...] = ()) -> Any:
    """wait_until that fails at once when one of `procs` exits, and shows their logs on a timeout."""
    def _alive_check() -> Any:
        for proc in procs:
            assert proc.popen.poll() is None, f"{proc.name} exited:\n{proc.log()[-3000:]}"
        return check()

    return wait_until(_alive_check, timeout, interval=0.2, message=f"waiting for {what}",
                      report=lambda: "\n".join(f"--- {p.name}\n{p.log()[-3000:]}" for p in procs))


@dataclass
class Proc:
    """A `celery ...` child process and its log."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """What it printed so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM its process group, SIGKILL after 20 s."""
        stop_process_group(self.popen)


@dataclass
class Tools:
    """The running worker, beat and Flower, and a client runtime on the same broker and store."""

    rt: Runtime
    env: dict[str, str]
    worker: Proc
    beat: Proc
    flower: Proc
    flower_url: str
    home: Path

    def flower_get(self, path: str) -> tuple[int, Any]:
        """GET a Flower API path; (status, JSON or None)."""
        try:
            with urllib.request.urlopen(self.flower_url + path, timeout=5) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except OSError:
            return 0, None


@pytest.fixture()
def tools(tmp_path: Path, redis_url: str, postgres_url: str) -> Iterator[Tools]:
    queue = f"tools-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "tools.yaml"
    config.write_text(CONFIG.read_text().replace("QUEUE", queue))
    home = tmp_path / "home"
    env = {**os.environ, "PYPELINE_CONFIG": str(config), "PYPELINE_BROKER_URL": redis_url,
           "PYPELINE_DATABASE_URL": postgres_url, "PYPELINE_HOME": str(home), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "FLOWER_UNAUTHENTICATED_API": "true"}
    for var in ("PYPELINE_RESULT_BACKEND", "CELERY_RESULT_BACKEND", "WORKER_NAME", "PYPELINE_TASK_EVENTS",
                "PYPELINE_TASK_RESULTS"):
        env.pop(var, None)
    settings = Settings(config_path=str(config), broker_url=redis_url, database_url=postgres_url, home=home,
                        broker_configured=True)
    rt = Runtime.from_path(str(config), settings, register=False)
    rt.store  # migrate once before three processes start  # noqa: B018
    celery = shutil.which("celery")
    assert celery is not None
    started: list[Proc] = []

    def start(name: str, *args: str) -> Proc:
        log_path = tmp_path / f"{name}.log"
        with open(log_path, "wb") as fh:
            popen = subprocess.Popen([celery, "-A", "pypeline.celery", *args], stdout=fh, stderr=subprocess.STDOUT,
                                     env=env, cwd=str(tmp_path), start_new_session=True)
        proc = Proc(name, popen, log_path)
        started.append(proc)
        return proc

    port = free_port()
    try:
        worker = start("worker", "worker", "-l", "INFO", "-P", "threads", "-c", "4", "-n", f"w-{queue}@%h")
        flower = start("flower", "flower", f"--port={port}", "--address=127.0.0.1")
        _wait(lambda: "ready." in worker.log(), "the worker", procs=(worker,))
        beat = start("beat", "beat", "-l", "INFO")
        result = Tools(rt, env, worker, beat, flower, f"http://127.0.0.1:{port}", home)
        _wait(lambda: result.flower_get("/api/workers")[0] == 200, "Flower", procs=(flower,))
        yield result
    finally:
        for proc in started:
            proc.stop()


def _runs(rt: Runtime, origin: str) -> list[dict[str, Any]]:
    return rt.store.list_runs(origin=origin, limit=50)[0]


def test_plain_celery_worker_beat_and_flower(tools: Tools) -> None:
    rt = tools.rt
    procs = (tools.worker, tools.beat, tools.flower)
    worker_log = tools.worker.log()
    for name in rt.config.queues():  # no -Q: every queue of the config, plus celery
        assert f"{name} " in worker_log or f".> {name}" in worker_log, worker_log[-3000:]

    # Beat without --scheduler uses the database scheduler: the config's schedule fires and its run succeeds.
    origin = origin_of("every-two-seconds")
    fired = _wait(lambda: [r for r in _runs(rt, origin) if r["status"] == "SUCCESS"], "a scheduled run",
                  timeout=60, procs=procs)
    assert fired[0]["payload"] == {"from": "beat"}
    assert "DatabaseScheduler" in tools.beat.log() or "database" in tools.beat.log().lower()
    assert (tools.home / "beat.heartbeat").is_file()  # what `pypeline beat --healthcheck` reads

    # A run submitted by a client, consumed across three queues.
    run_id = rt.start_run("good", {"n": 1}, origin="test")
    assert rt.wait(run_id, timeout=60)["status"] == "SUCCESS"
    nodes = {n["node"]: n for n in rt.store.node_runs(run_id)}

    # Task events are on by default, and results are readable by Celery tooling (no 503, no hang).
    task_id = nodes["extract"]["task_id"]
    seen = _wait(lambda: (tools.flower_get(f"/api/task/info/{task_id}")[1] or {}).get("state") == "SUCCESS",
                 "Flower to see the node task", timeout=30, procs=procs)
    assert seen
    status, body = tools.flower_get(f"/api/task/result/{task_id}")
    assert status == 200 and body["state"] == "SUCCESS" and body["result"] == {"got": {"n": 1}}, (status, body)
    shown = subprocess.run([shutil.which("celery") or "celery", "-A", "pypeline.celery", "result", task_id],
                           env=tools.env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "got" in shown.stdout, shown.stderr[-2000:]


def test_flower_shows_failed_nodes_as_failure_with_display_names(tools: Tools) -> None:
    """Acceptance of issue 13 (with deliverable 1): FAILURE for a failed node, `pipeline.node` as its name."""
    rt = tools.rt
    run_id = rt.start_run("broken", {"n": 2}, origin="test")
    assert rt.wait(run_id, timeout=60)["status"] == "FAILED"
    nodes = {n["node"]: n for n in rt.store.node_runs(run_id)}
    procs = (tools.worker, tools.flower)
    failed = nodes["explode"]["task_id"]
    info = _wait(lambda: (lambda i: i if i and i.get("state") in ("SUCCESS", "FAILURE") else None)(
        tools.flower_get(f"/api/task/info/{failed}")[1]), "Flower to see the failed node", timeout=30, procs=procs)
    assert info["state"] == "FAILURE", info
    assert info["name"] == "broken.explode", info
    # Flower merges the client's task-sent event (task name) and the worker's events (display name) as they
    # arrive, so wait for the worker's view of the successful node too.
    ok = _wait(lambda: (lambda i: i if i and i.get("state") == "SUCCESS" and i.get("name") == "broken.extract"
                        else None)(tools.flower_get(f"/api/task/info/{nodes['extract']['task_id']}")[1]),
               "Flower to show the successful node by its display name", timeout=60, procs=procs)
    assert ok["name"] == "broken.extract" and ok["state"] == "SUCCESS", ok
    failures = tools.flower_get("/api/tasks?state=FAILURE")[1]
    assert failed in failures

"""Fixtures of the scheduler tests: each supported store, a harness on Redis, real beat processes."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import WorkerProcess
from tests.scheduler.support import Harness


@pytest.fixture(params=["postgres", "sqlite"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each store the scheduler supports: a fresh PostgreSQL database, then a SQLite file."""
    return str(request.getfixturevalue("postgres_url" if request.param == "postgres" else "sqlite_url"))


@pytest.fixture()
def harness(redis_url: str, store_url: str, tmp_path: Path) -> Iterator[Harness]:
    """A harness on the scheduler test config (unique queue), Redis and the parametrised store."""
    h = Harness.on_redis(tmp_path, redis_url, store_url)
    yield h
    h.close()


@pytest.fixture()
def start_beat(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: start a real beat process (`pypeline beat FILE`, or `celery -A pypeline.celery beat`)."""
    started: list[WorkerProcess] = []

    def _start(harness: Harness, *, via: str = "pypeline", ready: bool = True) -> WorkerProcess:
        log_path = tmp_path / f"beat-{len(started)}.log"
        if via == "pypeline":
            exe = shutil.which("pypeline")
            cmd = [exe] if exe else [sys.executable, "-m", "pypeline"]
            cmd += ["beat", str(harness.config), "-l", "INFO"]
        else:
            cmd = [sys.executable, "-m", "celery", "-A", "pypeline.celery", "beat", "--scheduler",
                   "pypeline.scheduler:DatabaseScheduler", "-l", "INFO"]
        with open(log_path, "wb") as fh:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=str(tmp_path),
                                    env={**os.environ, "PYTHONUNBUFFERED": "1", **harness.env},
                                    start_new_session=True)
        beat = WorkerProcess(proc, log_path)
        started.append(beat)
        if ready:
            beat.wait_for_log("active schedule(s) loaded", timeout=60)
        return beat

    yield _start
    for beat in started:
        beat.stop()

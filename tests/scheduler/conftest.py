"""Fixtures of the scheduler tests: a config with a unique queue, a client runtime, real beat processes."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from pypeline.runtime import Runtime
from pypeline.settings import Settings
from tests.conftest import ROOT, WorkerProcess, unique_queue_config, wait_for_log

CONFIG = Path(__file__).parent / "schedules.yaml"
TASK = "tests.scheduler.handlers.count_fire"


@pytest.fixture(params=["postgres", "sqlite"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each store the scheduler supports: a fresh PostgreSQL database, then a SQLite file."""
    return request.getfixturevalue("postgres_url" if request.param == "postgres" else "sqlite_url")


@pytest.fixture()
def sched_config(tmp_path: Path) -> tuple[Path, str]:
    """The scheduler test config with its queue renamed to a unique one: (path, queue)."""
    return unique_queue_config(tmp_path, CONFIG)


class Harness:
    """Everything one scheduler test shares: config, URLs, a client runtime and the delivery counters."""

    def __init__(self, config: Path, queue: str, broker: str, database: str, home: Path) -> None:
        self.config = config
        self.queue = queue
        self.broker = broker
        self.database = database
        self.home = home
        self.counter = f"fires-{uuid.uuid4().hex[:10]}"
        self.redis = redis.Redis.from_url(broker)
        settings = Settings(config_path=str(config), broker_url=broker, database_url=database, home=home)
        self.rt = Runtime.from_path(str(config), settings, register=False)

    @property
    def env(self) -> dict[str, str]:
        """Environment of worker and beat processes."""
        return {"PYPELINE_BROKER_URL": self.broker, "PYPELINE_DATABASE_URL": self.database,
                "PYPELINE_HOME": str(self.home), "PYPELINE_CONFIG": str(self.config),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}

    def payload(self) -> dict[str, Any]:
        """The payload that makes the test handlers count deliveries in this test's hash."""
        return {"counter": self.counter, "redis": self.broker}

    def counts(self) -> dict[str, int]:
        """Deliveries per message id so far."""
        return {k.decode(): int(v) for k, v in self.redis.hgetall(self.counter).items()}

    def queued_ids(self) -> list[str]:
        """Task ids of the messages waiting in the test queue (no worker running)."""
        return [json.loads(m)["headers"]["id"] for m in self.redis.lrange(self.queue, 0, -1)]


#: Redis database of these tests: not the shared test db, which other sessions flush at start (keys here are
#: unique per test, so nothing needs flushing).
REDIS_DB = 13


@pytest.fixture()
def harness(sched_config: tuple[Path, str], redis_url: str, store_url: str, tmp_path: Path) -> Iterator[Harness]:
    """A harness on Redis and the parametrised store."""
    broker = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    h = Harness(sched_config[0], sched_config[1], broker, store_url, tmp_path / "home")
    yield h
    h.redis.delete(h.counter, h.queue)
    h.redis.close()


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
        fh = open(log_path, "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=str(tmp_path),
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **harness.env}, start_new_session=True)
        beat = WorkerProcess(proc, log_path)
        started.append(beat)
        if ready:
            wait_for_log(beat, "active schedule(s) loaded", timeout=60)
        return beat

    yield _start
    for beat in started:
        beat.stop()

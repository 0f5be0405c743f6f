"""Shared fixtures: real services (skip locally when absent, fail under CI=true), stores, worker processes."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "sermos.yaml.example"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

REDIS_URL = os.environ.get("PYPELINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("PYPELINE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES_URL = os.environ.get("PYPELINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _reachable(url: str) -> bool:
    parsed = urlparse(url.replace("postgresql+psycopg", "postgresql"))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, url: str) -> str:
    """Return `url` if the service answers; skip locally, fail under CI=true (a missing service is a failure)."""
    if _reachable(url):
        return url
    message = f"{name} is not reachable at {url}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: required services must run)")
    pytest.skip(message)
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis URL on a database reserved for tests (flushed at session start).

    `PYPELINE_TEST_REDIS_DB` (default 9) picks the database, so concurrent test sessions on one machine
    never flush each other's data.
    """
    url = require_service("Redis", REDIS_URL)
    import redis

    test_url = url.rsplit("/", 1)[0] + "/" + os.environ.get("PYPELINE_TEST_REDIS_DB", "9")
    redis.Redis.from_url(test_url).flushdb()
    return test_url


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The RabbitMQ URL."""
    return require_service("RabbitMQ", AMQP_URL)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL admin URL (database `test`)."""
    return require_service("PostgreSQL", POSTGRES_URL)


@pytest.fixture()
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import sqlalchemy as sa

    name = f"pypeline_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = postgres_server.rsplit("/", 1)[0] + "/" + name
    yield url
    from pypeline.store import db

    engine = db._engines.pop(url, None)
    if engine is not None:
        engine.dispose()
    db._migrated.discard(url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite store file in the test's temp dir."""
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


@pytest.fixture()
def pypeline_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated PYPELINE_HOME (embedded broker folders, default SQLite store) with no service env."""
    home = tmp_path / "home"
    monkeypatch.setenv("PYPELINE_HOME", str(home))
    for var in ("PYPELINE_BROKER_URL", "CELERY_BROKER_URL", "REDIS_URL", "PYPELINE_DATABASE_URL",
                "PYPELINE_RESULT_BACKEND", "CELERY_RESULT_BACKEND", "PYPELINE_CONFIG", "WORKER_NAME"):
        monkeypatch.delenv(var, raising=False)
    from pypeline.settings import get_settings

    get_settings(refresh=True)
    yield home
    get_settings(refresh=True)


def unique_queue_config(tmp_path: Path, source: Path = EXAMPLE, queue: str | None = None) -> tuple[Path, str]:
    """Copy a config with its queues renamed to a unique queue, so tests on shared brokers never collide."""
    queue = queue or f"pypeline-test-{uuid.uuid4().hex[:8]}"
    text = source.read_text().replace("pypeline-demo", queue).replace("${PYPELINE_DEMO_QUEUE:" + queue + "}", queue)
    path = tmp_path / source.name
    path.write_text(text)
    return path, queue


class WorkerProcess:
    """A real `pypeline worker` child process, stopped (or killed) on demand."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    def log(self) -> str:
        """What the worker printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Stop the worker (SIGTERM: warm shutdown; SIGKILL: crash)."""
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def wait_for_log(worker: WorkerProcess, needle: str, timeout: float = 30.0) -> None:
    """Block until `needle` appears in the worker's output (or fail with the log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in worker.log():
            return
        if worker.proc.poll() is not None:
            raise AssertionError(f"worker exited with {worker.proc.returncode}:\n{worker.log()[-4000:]}")
        time.sleep(0.1)
    raise AssertionError(f"worker did not print {needle!r} in {timeout}s:\n{worker.log()[-4000:]}")


@pytest.fixture()
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: start `pypeline worker FILE [args]` as a child process with the given env; all stopped after."""
    started: list[WorkerProcess] = []

    def _start(config: Path | str, *args: str, env: dict[str, str] | None = None, ready: bool = True) -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(started)}.log"
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        # Workers run in tmp_path: test handler modules (`tests.*`) import from the repo root, as in CI.
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full_env.get("PYTHONPATH", "")]))
        exe = shutil.which("pypeline")
        cmd = [exe] if exe else [sys.executable, "-m", "pypeline"]
        fh = open(log_path, "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([*cmd, "worker", str(config), *args], stdout=fh, stderr=subprocess.STDOUT,
                                env=full_env, cwd=str(tmp_path), start_new_session=True)
        worker = WorkerProcess(proc, log_path)
        started.append(worker)
        if ready:
            wait_for_log(worker, "ready.", timeout=60)
        return worker

    yield _start
    for worker in started:
        worker.stop()

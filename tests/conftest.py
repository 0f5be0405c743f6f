"""Shared fixtures: real services (skip locally when absent, fail under CI=true), stores, worker processes."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import AMQP_URL, POSTGRES_URL, REDIS_URL, WorkerProcess, fresh_database, require_service


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
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite store file in the test's temp dir."""
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each store backend: a SQLite file in the test's temp dir, then a fresh PostgreSQL database."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url"))


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


@pytest.fixture()
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: start `pypeline worker FILE [args]` as a child process with the given env; all stopped after."""
    started: list[WorkerProcess] = []

    def _start(config: Path | str, *args: str, env: dict[str, str] | None = None, ready: bool = True) -> WorkerProcess:
        worker = WorkerProcess.start(config, *args, env=env, cwd=tmp_path, ready=ready,
                                     log_path=tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield _start
    for worker in started:
        worker.stop()

"""Fault fixtures: private Redis / PostgreSQL servers (shared per module) and scenario factories."""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import HasLog, Scenario
from tests.faults.services import (
    Database,
    PrivatePostgres,
    PrivateRedis,
    SharedDatabaseCutter,
    find_binary,
    postgres_user,
    require_binary,
)
from tests.helpers import WorkerProcess, fresh_database


@pytest.fixture(scope="module")
def private_redis_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], PrivateRedis]]:
    """Factory of started private Redis servers (each on its own port); all stopped when the module ends."""
    servers: list[PrivateRedis] = []

    def _make() -> PrivateRedis:
        server = PrivateRedis(tmp_path_factory.mktemp("redis"))
        servers.append(server)
        server.start()
        return server

    yield _make
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def private_redis(private_redis_factory: Callable[[], PrivateRedis]) -> PrivateRedis:
    """One private Redis per module, for tests that do not restart their broker (so they may share it)."""
    return private_redis_factory()


@pytest.fixture(scope="module")
def database_factory() -> Iterator[Callable[[], Database]]:
    """Factory of restartable databases: a private PostgreSQL cluster (initdb + pg_ctl as an unprivileged user).

    Under CI=true a missing `initdb` fails (see `require_binary`). Locally, on a machine where no private
    cluster can run, it falls back to cutting the connections of the test's OWN database on the shared server
    (`SharedDatabaseCutter`), which exercises the same client-side paths but not a real server restart.
    """
    made: list[Database] = []
    private = find_binary("initdb") is not None and postgres_user() is not None

    def _make() -> Database:
        if private:
            server = PrivatePostgres()
            made.append(server)
            server.init()
            server.start()
            return server
        from tests.helpers import IN_CI, POSTGRES_URL, require_service

        if IN_CI:
            require_binary("initdb")  # fails under CI when missing
            pytest.fail("CI=true: cannot run a private PostgreSQL cluster as an unprivileged user")
        warnings.warn("no private PostgreSQL cluster possible here: database faults only cut the connections "
                      "of the test's own database on the shared server (pg_terminate_backend)", stacklevel=1)
        cutter = SharedDatabaseCutter(require_service("PostgreSQL", POSTGRES_URL))
        made.append(cutter)
        return cutter

    yield _make
    for server in made:
        server.close()


@pytest.fixture()
def postgres_db_factory(postgres_server: str) -> Iterator[Callable[[], str]]:
    """Factory of fresh databases on the shared PostgreSQL server, all dropped after the test.

    Scenarios running side by side on different brokers need one store each: a store belongs to one broker
    (a worker's reconciler re-publishes every overdue node of its store through its own broker).
    """
    with ExitStack() as databases:
        yield lambda: databases.enter_context(fresh_database(postgres_server))


@pytest.fixture()
def scenario_factory(tmp_path: Path, start_worker: Callable[..., WorkerProcess]) -> Iterator[Callable[..., Scenario]]:
    """Factory: `make(name, broker_url, database_url, **services)` -> a Scenario with its own unique queue."""
    made: list[Scenario] = []

    def _make(name: str, broker_url: str, database_url: str, *, client_settings: dict[str, Any] | None = None,
              **services: HasLog) -> Scenario:
        scenario = Scenario(name, tmp_path, broker_url, database_url, start_worker, services=dict(services),
                            client_settings=client_settings or {})
        made.append(scenario)
        return scenario

    yield _make
    for scenario in made:
        scenario.stop_workers()
        scenario.close()

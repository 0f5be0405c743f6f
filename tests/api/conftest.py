"""Fixtures for API tests: an app over a real store (and, for e2e tests, a real worker) plus API keys."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient

from pypeline.api import create_app
from pypeline.runtime import Runtime
from pypeline.services import keys as key_service
from pypeline.settings import Settings
from tests.conftest import WorkerProcess, unique_queue_config


@dataclass
class Stack:
    """A runtime, its Flask app and test client, and a write and a read key."""

    rt: Runtime
    app: Flask
    client: FlaskClient
    write_key: str
    read_key: str
    queue: str
    config: Path

    @property
    def w(self) -> dict[str, str]:
        """Headers with the write key."""
        return {"accesskey": self.write_key}

    @property
    def r(self) -> dict[str, str]:
        """Headers with the read key (sent as a bearer token)."""
        return {"Authorization": f"Bearer {self.read_key}"}


def make_stack(tmp_path: Path, broker: str, database: str, *, edit: Callable[[dict, str], None] | None = None,
               **settings: object) -> Stack:
    """Build a Stack on the example config with a unique queue (`edit(doc, queue)` may change the config first)."""
    config, queue = unique_queue_config(tmp_path)
    if edit is not None:
        doc = yaml.safe_load(config.read_text())
        edit(doc, queue)
        config.write_text(yaml.safe_dump(doc, sort_keys=False))
    rt = Runtime.from_path(str(config), Settings(config_path=str(config), broker_url=broker, database_url=database,
                                                 home=tmp_path / "home", **settings))  # type: ignore[arg-type]
    app = create_app(runtime=rt)
    app.config["TESTING"] = True
    writer = key_service.create_key(rt, "writer", "write")
    reader = key_service.create_key(rt, "reader", "read")
    return Stack(rt, app, app.test_client(), writer.token, reader.token, queue, config)


def worker_env(stack: Stack) -> dict[str, str]:
    """Environment of a `pypeline worker` sharing the stack's broker and store."""
    s = stack.rt.settings
    return {"PYPELINE_BROKER_URL": s.broker_url, "PYPELINE_DATABASE_URL": str(s.database_url),
            "PYPELINE_HOME": str(s.home)}


@pytest.fixture()
def stack(tmp_path: Path, redis_url: str, postgres_url: str) -> Iterator[Stack]:
    """App on Redis + PostgreSQL without a worker (runs stay queued)."""
    yield make_stack(tmp_path, redis_url, postgres_url)


@pytest.fixture()
def live_stack(stack: Stack, start_worker: Callable[..., WorkerProcess]) -> Stack:
    """App on Redis + PostgreSQL with a real `pypeline worker` process consuming the stack's queue."""
    start_worker(stack.config, "-c", "4", "-P", "threads", env=worker_env(stack))
    return stack


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Stack:
    """One app per test module on Redis + a SQLite store (no worker), for request/response checks."""
    tmp = tmp_path_factory.mktemp("api")
    return make_stack(tmp, redis_url, f"sqlite:///{tmp / 'store.sqlite'}")

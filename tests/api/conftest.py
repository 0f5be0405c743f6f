"""Fixtures for API tests: an app over a real store (and, for e2e tests, a real worker) plus API keys."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.api.support import ApiStack, make_api_stack
from tests.helpers import WorkerProcess


@pytest.fixture()
def stack(tmp_path: Path, redis_url: str, postgres_url: str) -> Iterator[ApiStack]:
    """App on Redis + PostgreSQL without a worker (runs stay queued)."""
    yield make_api_stack(tmp_path, redis_url, postgres_url)


@pytest.fixture()
def live_stack(stack: ApiStack, start_worker: Callable[..., WorkerProcess]) -> ApiStack:
    """App on Redis + PostgreSQL with a real `pypeline worker` process consuming the stack's queue."""
    stack.start_worker(start_worker, "-c", "4", "-P", "threads")
    return stack


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> ApiStack:
    """One app per test module on Redis + a SQLite store (no worker), for request/response checks."""
    tmp = tmp_path_factory.mktemp("api")
    return make_api_stack(tmp, redis_url, f"sqlite:///{tmp / 'store.sqlite'}")

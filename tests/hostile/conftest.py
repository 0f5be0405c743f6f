"""Fixtures of the hostile-input suite: one API stack on Redis + a private PostgreSQL database per module."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.support import ApiStack, make_api_stack
from tests.helpers import fresh_database, unique_queue_config
from tests.hostile.support import ApiServer, serve_api


@pytest.fixture(scope="module")
def pg_module_stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str,
                    postgres_server: str) -> Iterator[ApiStack]:
    """An app on Redis + a fresh PostgreSQL database (NUL bytes and NaN reach PostgreSQL's own checks there)."""
    with fresh_database(postgres_server, "pypeline_h_") as url:
        yield make_api_stack(tmp_path_factory.mktemp("hostile"), redis_url, url)


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory, redis_url: str,
               postgres_server: str) -> Iterator[ApiServer]:
    """`pypeline api` under gunicorn (2 threads) on Redis + PostgreSQL and a free port; yields (port, write key)."""
    tmp = tmp_path_factory.mktemp("api-server")
    config, _ = unique_queue_config(tmp)
    with fresh_database(postgres_server, "pypeline_h_") as db:
        yield from serve_api(tmp, config, redis_url, db)

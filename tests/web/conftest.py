"""Fixtures for dashboard tests: the API stack of tests/api on SQLite (per module) or PostgreSQL."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.support import ApiStack, make_api_stack


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> ApiStack:
    """One app per test module on Redis + a SQLite store (no worker)."""
    tmp = tmp_path_factory.mktemp("web")
    return make_api_stack(tmp, redis_url, f"sqlite:///{tmp / 'store.sqlite'}")


@pytest.fixture()
def pg_stack(tmp_path: Path, redis_url: str, postgres_url: str) -> ApiStack:
    """App on Redis + PostgreSQL."""
    return make_api_stack(tmp_path, redis_url, postgres_url)

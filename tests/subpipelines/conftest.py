"""Fixtures of the sub-pipeline tests: a runtime on subpipelines.yaml over SQLite or PostgreSQL (embedded broker)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pypeline.runtime import Runtime
from tests.subpipelines.support import make_runtime


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test runs on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture()
def sub_runtime(tmp_path: Path, store_url: str) -> Callable[..., Runtime]:
    """Factory of runtimes on the sub-pipeline config over this test's store."""
    return lambda **settings: make_runtime(tmp_path, store_url, **settings)

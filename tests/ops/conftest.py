"""Fixtures of the operations tests: a runtime on the ops config over SQLite or PostgreSQL (embedded broker)."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from pypeline.runtime import Runtime
from pypeline.settings import Settings

OPS_CONFIG = Path(__file__).parent / "ops.yaml"


def make_runtime(tmp_path: Path, database: str, **settings: object) -> Runtime:
    """A runtime on tests/ops/ops.yaml with a unique queue, the embedded broker and the given store."""
    queue = f"ops-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "ops.yaml"
    config.write_text(OPS_CONFIG.read_text().replace("ops-tests", queue))
    return Runtime.from_path(str(config), Settings(config_path=str(config), database_url=database,
                                                   home=tmp_path / "home", **settings))  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test runs on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture()
def ops_runtime(tmp_path: Path, store_url: str) -> Callable[..., Runtime]:
    """Factory of runtimes on the ops config over this test's store."""
    return lambda **settings: make_runtime(tmp_path, store_url, **settings)

"""Fixtures of the sub-pipeline tests: a runtime on subpipelines.yaml over SQLite or PostgreSQL (embedded broker)."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from pypeline.runtime import Runtime
from pypeline.settings import Settings

CONFIG = Path(__file__).parent / "subpipelines.yaml"


def config_copy(tmp_path: Path, queue: str | None = None) -> Path:
    """tests/subpipelines/subpipelines.yaml with its queue renamed to a unique one."""
    path = tmp_path / "subpipelines.yaml"
    path.write_text(CONFIG.read_text().replace("subpipe-tests", queue or f"subpipe-{uuid.uuid4().hex[:8]}"))
    return path


def make_runtime(tmp_path: Path, database: str, **settings: object) -> Runtime:
    """A runtime on the sub-pipeline config with a unique queue, the embedded broker and the given store."""
    config = config_copy(tmp_path)
    return Runtime.from_path(str(config), Settings(config_path=str(config), database_url=database,
                                                   home=tmp_path / "home", **settings))  # type: ignore[arg-type]


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

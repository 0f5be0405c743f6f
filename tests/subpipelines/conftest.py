"""Fixtures of the sub-pipeline tests: a runtime on subpipelines.yaml over SQLite or PostgreSQL (embedded broker)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pypeline.runtime import Runtime
from tests.subpipelines import handlers
from tests.subpipelines.support import make_runtime


@pytest.fixture()
def sub_runtime(tmp_path: Path, store_url: str) -> Callable[..., Runtime]:
    """Factory of runtimes on the sub-pipeline config over this test's store."""
    return lambda **settings: make_runtime(tmp_path, store_url, **settings)


@pytest.fixture(autouse=True)
def _release() -> Iterator[None]:
    """Held handlers start held and are always released after a test (never leave a held node behind)."""
    handlers.RELEASE.clear()
    yield
    handlers.RELEASE.set()

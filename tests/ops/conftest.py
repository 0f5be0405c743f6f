"""Fixtures of the operations tests: a runtime on the ops config over SQLite or PostgreSQL (embedded broker)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pypeline.runtime import Runtime
from tests.ops.support import make_runtime


@pytest.fixture()
def ops_runtime(tmp_path: Path, store_url: str) -> Callable[..., Runtime]:
    """Factory of runtimes on the ops config over this test's store."""
    return lambda **settings: make_runtime(tmp_path, store_url, **settings)

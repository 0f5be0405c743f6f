"""A run store on SQLite or PostgreSQL, for the lease and lock tests."""
from __future__ import annotations

import pytest

from pypeline.store.repository import RunStore


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> RunStore:
    """A fresh, migrated run store on each backend (PostgreSQL: the real service, one database per test)."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    return RunStore(url)

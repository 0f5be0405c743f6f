"""A run store on SQLite or PostgreSQL, for the lease and lock tests."""
from __future__ import annotations

import pytest

from pypeline.store.repository import RunStore


@pytest.fixture()
def store(store_url: str) -> RunStore:
    """A fresh, migrated run store on each backend (PostgreSQL: the real service, one database per test)."""
    return RunStore(store_url)

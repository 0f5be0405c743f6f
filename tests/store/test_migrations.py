"""Alembic migrations create exactly the tables the models declare."""
from __future__ import annotations

import importlib

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from pypeline.store import RunStore
from pypeline.store.models import Base


def _import_all_models() -> None:
    for module in ("pypeline.scheduler.models", "pypeline.services.batch_models", "pypeline.api.keys_models"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            pass


def _diff(url: str) -> list:
    _import_all_models()
    store = RunStore(url)
    with store.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)


def test_sqlite_schema_matches_models(sqlite_url: str) -> None:
    assert _diff(sqlite_url) == []


def test_postgres_schema_matches_models(postgres_url: str) -> None:
    assert _diff(postgres_url) == []

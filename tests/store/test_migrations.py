"""Alembic migrations create exactly the tables the models declare."""
from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Table

from pypeline.store import RunStore
from pypeline.store.models import Base


def _diff(url: str) -> list:
    store = RunStore(url)
    with store.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)


def test_sqlite_schema_matches_models(sqlite_url: str) -> None:
    assert _diff(sqlite_url) == []


def test_postgres_schema_matches_models(postgres_url: str) -> None:
    assert _diff(postgres_url) == []


def test_concurrent_first_starts_on_one_sqlite_file(tmp_path: Path) -> None:
    """Worker, beat and API starting together on a new SQLite file all migrate it without 'database is locked'."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    code = f"from pypeline.store import RunStore; RunStore({url!r}).list_runs()"
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(6)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors


def test_every_model_maps_a_table() -> None:
    """`Base.__table__` is typed `Table` (for mypy, instead of SQLAlchemy's `FromClause`): keep that true."""
    mappers = list(Base.registry.mappers)
    assert len(mappers) == len(Base.metadata.tables)
    for mapper in mappers:
        table = mapper.class_.__table__
        assert isinstance(table, Table), mapper.class_.__name__
        assert Base.metadata.tables[table.name] is table

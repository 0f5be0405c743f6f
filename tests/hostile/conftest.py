"""Fixtures of the hostile-input suite: one API stack on Redis + a private PostgreSQL database per module."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.api.conftest import Stack, make_stack


@pytest.fixture(scope="module")
def pg_module_stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str,
                    postgres_server: str) -> Iterator[Stack]:
    """An app on Redis + a fresh PostgreSQL database (NUL bytes and NaN reach PostgreSQL's own checks there)."""
    import sqlalchemy as sa

    from pypeline.store import db

    name = f"pypeline_h_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = postgres_server.rsplit("/", 1)[0] + "/" + name
    try:
        yield make_stack(tmp_path_factory.mktemp("hostile"), redis_url, url)
    finally:
        engine = db._engines.pop(url, None)
        if engine is not None:
            engine.dispose()
        db._migrated.discard(url)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

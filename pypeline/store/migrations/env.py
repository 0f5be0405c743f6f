"""Alembic environment: runs on the connection handed in by pypeline.store.db.migrate (or a URL)."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from pypeline.errors import StoreError
from pypeline.store.models import Base  # the package imports every table, so the metadata is complete

target_metadata = Base.metadata


def run_migrations() -> None:
    """Run migrations online on the given connection, or on a fresh engine from the URL."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise StoreError("migrations need a connection or the sqlalchemy.url option")
    engine = create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()

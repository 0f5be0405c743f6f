"""Run store: SQLAlchemy models, engine/session factory, migrations and the repository API."""
from __future__ import annotations

from pypeline.store.db import make_engine, migrate
from pypeline.store.repository import CompletionOutcome, RunStore

__all__ = ["make_engine", "migrate", "RunStore", "CompletionOutcome"]

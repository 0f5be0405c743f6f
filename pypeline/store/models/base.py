"""The declarative base every Pypeline table shares, its timestamp columns and the UTC time helpers."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import ClassVar

from sqlalchemy import DateTime, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pypeline.formats import iso_utc

__all__ = ["Base", "TimestampMixin", "utcnow", "iso_utc"]


def utcnow() -> datetime:
    """Timezone-aware current UTC time (every timestamp in the store is UTC)."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base shared by every Pypeline table (one metadata for Alembic)."""

    #: Every model is declared with `__tablename__`, so it maps a `Table` (the base types it `FromClause`).
    __table__: ClassVar[Table]


class TimestampMixin:
    """`created_at` (indexed, set on insert) and `updated_at` (set on every ORM update) of a long-lived row."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

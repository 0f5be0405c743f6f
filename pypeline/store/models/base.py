"""The declarative base every Pypeline table shares, its timestamp columns and the UTC time helpers."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "TimestampMixin", "utcnow", "iso_utc"]


def utcnow() -> datetime:
    """Timezone-aware current UTC time (every timestamp in the store is UTC)."""
    return datetime.now(timezone.utc)


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 with its UTC offset; SQLite hands timestamps back naive, and they are UTC."""
    if value is None:
        return None
    return (value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)).isoformat()


class Base(DeclarativeBase):
    """Declarative base shared by every Pypeline table (one metadata for Alembic)."""


class TimestampMixin:
    """`created_at` (indexed, set on insert) and `updated_at` (set on every ORM update) of a long-lived row."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

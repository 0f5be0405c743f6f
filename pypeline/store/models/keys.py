"""SQLAlchemy model of API keys (only a hash of each secret is stored), on the run store's metadata."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from pypeline.store.models.base import Base, utcnow

__all__ = ["ApiKey"]


class ApiKey(Base):
    """One API key: a public id, a name, a scope and the SHA-256 of its secret part."""

    __tablename__ = "pypeline_api_keys"

    #: Public identifier, also embedded in the token (`pyp_<id>_<secret>`), so lookups never use the secret.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: "read" or "write" (write implies read).
    scope: Mapped[str] = mapped_column(String(16))
    #: Hex SHA-256 of the secret part of the token.
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)

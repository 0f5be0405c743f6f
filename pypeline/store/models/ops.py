"""Tables of production operations on the run store's metadata (migration 0006_ops): tags, logs, notifications."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pypeline.store.models.base import Base, utcnow

__all__ = ["RunTag", "NodeLog", "NotificationAttempt"]


class RunTag(Base):
    """One tag of a run (searchable: `GET /runs/?tag=`)."""

    __tablename__ = "pypeline_run_tags"

    run_id: Mapped[str] = mapped_column(ForeignKey("pypeline_runs.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class NodeLog(Base):
    """A chunk of what a node attempt logged or printed; a node's log is its chunks in id order."""

    __tablename__ = "pypeline_node_logs"
    __table_args__ = (Index("ix_node_logs_run_node", "run_id", "node", "instance", "attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("pypeline_runs.id", ondelete="CASCADE"))
    node: Mapped[str] = mapped_column(String(200))
    instance: Mapped[str] = mapped_column(String(200), default="")
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NotificationAttempt(Base):
    """One delivery attempt of a run notification (webhook POST or handler call)."""

    __tablename__ = "pypeline_notification_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("pypeline_runs.id", ondelete="CASCADE"), index=True)
    #: "webhook" or "handler".
    channel: Mapped[str] = mapped_column(String(16))
    #: The webhook URL or the handler's dotted path.
    target: Mapped[str] = mapped_column(String(500))
    #: The run status notified (FAILED, SUCCESS, ...).
    event: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


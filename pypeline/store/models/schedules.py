"""SQLAlchemy models of the schedule table, its change counter and the log of fires."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from pypeline.store.models.base import Base, utcnow

__all__ = ["UTCDateTime", "Schedule", "ScheduleChanges", "ScheduleFire", "CHANGES_ROW_ID", "FireStatus"]

#: Primary key of the one row of `pypeline_schedule_changes`.
CHANGES_ROW_ID = 1


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and read back timezone-aware on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store UTC; SQLite would keep a local wall time as-is, so convert before binding."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: schedule times must be timezone-aware")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return aware UTC datetimes."""
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class FireStatus:
    """Values of `ScheduleFire.status`."""

    #: Claimed (the schedule row was advanced) but not yet handed to the broker.
    PENDING = "pending"
    #: Published to the broker (or the pipeline run was started).
    SENT = "sent"
    #: Could not be sent and will not be retried (e.g. its target is no longer declared).
    FAILED = "failed"


class Schedule(Base):
    """One schedule: what to fire (a declared task or pipeline), when, and its bookkeeping."""

    __tablename__ = "pypeline_schedules"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: "task" (a declared handler path) or "pipeline" (a declared pipeline id).
    target_kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(300))
    payload: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: "crontab", "interval" or "oneoff".
    kind: Mapped[str] = mapped_column(String(16))
    #: Five cron fields "minute hour day-of-month month day-of-week" (crontab only).
    cron: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: IANA zone the cron fields are read in.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    interval_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    queue: Mapped[str | None] = mapped_column(String(200), nullable=True)
    exchange: Mapped[str | None] = mapped_column(String(200), nullable=True)
    routing_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: Seconds after which an unconsumed task message is discarded (task targets).
    expires: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Tags given to every run the schedule starts (migration 0006_ops).
    tags: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: "config" (synced from scheduledTasks) or "api" (created through the service API).
    source: Mapped[str] = mapped_column(String(16), default="api")
    #: Fields of a config schedule changed through the API; config sync leaves these alone.
    api_fields: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: Tombstone: deleted rows stay so that beats see the deletion through the change counter.
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Next due time (UTC); NULL when disabled, deleted or a finished one-off.
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    total_fires: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Value of the change counter when this row was last written.
    version: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScheduleChanges(Base):
    """A single row whose counter every schedule write bumps in its own transaction (cheap change check)."""

    __tablename__ = "pypeline_schedule_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    counter: Mapped[int] = mapped_column(BigInteger, default=0)


class ScheduleFire(Base):
    """One claimed fire of a schedule: the exactly-once record, and the outbox for crash recovery."""

    __tablename__ = "pypeline_schedule_fires"
    __table_args__ = (
        UniqueConstraint("schedule_id", "due_at", name="uq_schedule_fire_due"),
        Index("ix_schedule_fires_status_claimed", "status", "claimed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[str] = mapped_column(String(200))
    #: The due time this fire was for (the compare-and-set value).
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When a beat claimed (or re-claimed, to re-send) this fire.
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    #: Which beat claimed it ("host:pid").
    beat: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: Celery task id (task targets) or run id (pipeline targets); derived from (schedule, due time).
    message_id: Mapped[str] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

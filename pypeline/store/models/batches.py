"""SQLAlchemy models of batch runs and their chunks, on the run store's metadata (migration 0004_batches)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pypeline.store.models.base import Base, TimestampMixin, utcnow

__all__ = ["BatchRun", "BatchChunk"]


class BatchRun(TimestampMixin, Base):
    """One execution of a batch: where its keys come from, how far the listing got, and its status."""

    __tablename__ = "pypeline_batch_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The `batches.<id>` entry it was started from; None for an ad hoc batch (CLI --local/--s3).
    batch_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    pipeline_id: Mapped[str] = mapped_column(String(200))
    #: A run status of pypeline.status (RUNNING, PAUSED, SUCCESS, FAILED, CANCELLED).
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: Snapshot of the generator ({"type", "options"}) so a resume lists exactly the same source.
    generator: Mapped[Any] = mapped_column(JSON)
    chunk_size: Mapped[int] = mapped_column(Integer)
    concurrency: Mapped[int] = mapped_column(Integer)
    payload_key: Mapped[str] = mapped_column(String(200))
    #: Extra chain_payload merged into every chunk's payload.
    payload: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: Last key put in a chunk; listing resumes strictly after it.
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    keys_listed: Mapped[int] = mapped_column(Integer, default=0)
    chunks_created: Mapped[int] = mapped_column(Integer, default=0)
    #: True once the generator has no key after `cursor`.
    listing_done: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Identity of the one driver allowed to create chunks ("w-..." worker-side, "l-..." local/CLI).
    driver_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    origin: Mapped[str | None] = mapped_column(String(200), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BatchChunk(Base):
    """One chunk of keys and the id of the pipeline run that processes it (chosen before it is started)."""

    __tablename__ = "pypeline_batch_chunks"
    __table_args__ = (
        UniqueConstraint("batch_run_id", "number", name="uq_batch_chunk"),
        UniqueConstraint("run_id", name="uq_batch_chunk_run"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_run_id: Mapped[str] = mapped_column(ForeignKey("pypeline_batch_runs.id", ondelete="CASCADE"), index=True)
    #: 0-based position of the chunk in the batch (the `chunk` value of its payload).
    number: Mapped[int] = mapped_column(Integer)
    #: Id of the chunk's pipeline run; no foreign key: the run is created only after this row is committed.
    run_id: Mapped[str] = mapped_column(String(64))
    keys: Mapped[Any] = mapped_column(JSON)
    key_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

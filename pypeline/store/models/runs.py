"""Tables of the run store: pipeline runs, node runs, run events and named locks."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pypeline.store.models.base import Base, TimestampMixin, utcnow

__all__ = ["PipelineRun", "NodeRun", "RunEvent", "Lock"]


class PipelineRun(TimestampMixin, Base):
    """One execution of a pipeline (the original's `execution_id`)."""

    __tablename__ = "pypeline_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pipeline_id: Mapped[str] = mapped_column(String(200), index=True)
    engine: Mapped[str] = mapped_column(String(32), default="event")
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    payload: Mapped[Any] = mapped_column(JSON, nullable=True)
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: Leaf node names; the run's result is their results keyed by node name.
    leaves: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    failed_node: Mapped[str | None] = mapped_column(String(200), nullable=True)
    nodes_total: Mapped[int] = mapped_column(Integer, default=0)
    #: Nodes not yet terminal; the run is finalised when this reaches 0.
    nodes_left: Mapped[int] = mapped_column(Integer, default=0)
    #: Free-form origin ("cli", "api", "schedule:<id>", "batch:<id>").
    origin: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: Sub-pipelines: the run and node (and split instance) that started this run as a child (see store.children).
    parent_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    parent_node: Mapped[str | None] = mapped_column(String(200), nullable=True)
    parent_instance: Mapped[str | None] = mapped_column(String(200), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class NodeRun(Base):
    """One node (or one split instance of a node) within a run."""

    __tablename__ = "pypeline_node_runs"
    __table_args__ = (
        UniqueConstraint("run_id", "node", "instance", name="uq_node_run"),
        Index("ix_node_runs_run_status", "run_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("pypeline_runs.id", ondelete="CASCADE"))
    node: Mapped[str] = mapped_column(String(200))
    #: "" for a plain node; the split path (e.g. "3" or "3.1") for a dynamic instance.
    instance: Mapped[str] = mapped_column(String(200), default="")
    handler: Mapped[str] = mapped_column(String(300))
    queue: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    #: Upstream nodes not yet finished; the node is dispatched when this reaches 0.
    remaining: Mapped[int] = mapped_column(Integer, default=0)
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    result_summary: Mapped[str | None] = mapped_column(String(500), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    traceback: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    #: While RUNNING/RETRYING: until when the worker holding the node is known alive (renewed by its heartbeat).
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: The worker process ("host:pid") holding the lease.
    lease_holder: Mapped[str | None] = mapped_column(String(200), nullable=True)


class RunEvent(Base):
    """A named event recorded on a run (custom node events, control actions)."""

    __tablename__ = "pypeline_run_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("pypeline_runs.id", ondelete="CASCADE"), index=True)
    node: Mapped[str | None] = mapped_column(String(200), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    data: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Lock(Base):
    """A named lease held by one process at a time (e.g. the reconciler's leadership), fenced by expiry."""

    __tablename__ = "pypeline_locks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

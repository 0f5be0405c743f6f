"""Search runs by pipeline, status, origin, tags and creation time, with paging."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from pypeline.status import Status
from pypeline.store.models import PipelineRun, RunTag
from pypeline.store.repository import run_record
from pypeline.store.tags import tags_of

__all__ = ["RunFilter", "search_runs"]

_RUN = PipelineRun.__table__
_TAG = RunTag.__table__


@dataclass(frozen=True)
class RunFilter:
    """Conditions a listed run must meet (all of them); `tags`: every one must be on the run."""

    pipeline_id: str | None = None
    statuses: Sequence[Status] = ()
    origin: str | None = None
    #: Origin prefix, e.g. "schedule:" for every scheduled run.
    origin_prefix: str | None = None
    tags: Sequence[str] = field(default_factory=tuple)
    created_after: datetime | None = None
    created_before: datetime | None = None

    def conditions(self) -> list[Any]:
        """SQL conditions on the runs table."""
        cond: list[Any] = []
        if self.pipeline_id:
            cond.append(_RUN.c.pipeline_id == self.pipeline_id)
        if self.statuses:
            cond.append(_RUN.c.status.in_([Status(s).value for s in self.statuses]))
        if self.origin:
            cond.append(_RUN.c.origin == self.origin)
        if self.origin_prefix:
            cond.append(_RUN.c.origin.startswith(self.origin_prefix, autoescape=True))
        if self.created_after is not None:
            cond.append(_RUN.c.created_at >= self.created_after)
        if self.created_before is not None:
            cond.append(_RUN.c.created_at < self.created_before)
        for tag in self.tags:
            cond.append(_RUN.c.id.in_(select(_TAG.c.run_id).where(_TAG.c.tag == tag)))
        return cond


def search_runs(
    engine: Engine, flt: RunFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """A page of matching runs, newest first, each with its `tags`; returns (page, total)."""
    cond = flt.conditions()
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(_RUN).where(*cond)).scalar_one()
        rows = conn.execute(
            select(_RUN).where(*cond).order_by(_RUN.c.created_at.desc(), _RUN.c.id).limit(limit).offset(offset)
        ).mappings().all()
    items = [run_record(r) for r in rows]
    tags = tags_of(engine, [r["id"] for r in items])
    for item in items:
        item["tags"] = tags[item["id"]]
    return items, int(total)

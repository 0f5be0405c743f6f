"""Retention: prune finished runs (and the schedule-fire log) older than a number of days."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pypeline.errors import InvalidInputError
from pypeline.runtime import Runtime
from pypeline.scheduler.store import ScheduleStore
from pypeline.status import Status
from pypeline.store.models import utcnow
from pypeline.store.retention import PRUNABLE, count_prunable, prune_batch_runs, prune_runs

__all__ = ["prune"]


def _statuses(values: Sequence[str]) -> list[Status]:
    out = []
    for value in values:
        try:
            status = Status(value.upper())
        except ValueError:
            status = None
        if status not in PRUNABLE:
            raise InvalidInputError(f"cannot prune status {value!r}; one of {[s.value for s in PRUNABLE]}")
        out.append(status)
    return out


def prune(
    runtime: Runtime, older_than_days: float, statuses: Sequence[str] = (), *, dry_run: bool = False, batch: int = 500
) -> dict[str, Any]:
    """Delete finished runs that ended more than `older_than_days` ago (with everything attached), in batches.

    Without a status filter, finished batch runs and schedule fires older than that go too; chunk runs of
    a batch run that is kept are never deleted (a resume would run them again). Sub-pipeline child runs go
    with their top-level run, never on their own while it exists (see pypeline.store.retention).
    """
    if older_than_days < 0:
        raise InvalidInputError("older_than_days must be >= 0")
    if not 1 <= batch <= 10_000:
        raise InvalidInputError("batch must be between 1 and 10000")
    chosen = _statuses(statuses)
    before = utcnow() - timedelta(days=older_than_days)
    engine = runtime.store.engine
    if dry_run:
        return {"runs": count_prunable(engine, before, chosen), "before": before.isoformat(), "dry_run": True}
    batch_runs = 0 if chosen else prune_batch_runs(engine, before, batch)  # releases their chunk runs
    batches: list[int] = []
    runs = prune_runs(engine, before, chosen, batch=batch, on_batch=batches.append)
    fires = 0 if chosen else ScheduleStore(runtime.store.url).prune_fires(before)
    return {"runs": runs, "batches": len(batches), "batch_runs": batch_runs, "fires": fires,
            "before": before.isoformat(), "dry_run": False}

"""Database-watching Celery beat: schedules change live and fire exactly once, even with several beats.

`celery -A pypeline.celery beat --scheduler pypeline.scheduler:DatabaseScheduler`, or `pypeline beat FILE`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pypeline.scheduler.beat import DatabaseScheduler
    from pypeline.scheduler.entry import DatabaseEntry

__all__ = ["DatabaseScheduler", "DatabaseEntry"]


def __getattr__(name: str) -> Any:
    # Lazy: importing pypeline.scheduler.store (services, API) must not pull in Celery beat.
    if name == "DatabaseScheduler":
        from pypeline.scheduler.beat import DatabaseScheduler

        return DatabaseScheduler
    if name == "DatabaseEntry":
        from pypeline.scheduler.entry import DatabaseEntry

        return DatabaseEntry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

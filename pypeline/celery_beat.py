"""Compatibility with the original's `pypeline.celery_beat:SermosScheduler` (now the database scheduler)."""
from __future__ import annotations

from pypeline.scheduler.beat import DatabaseScheduler
from pypeline.scheduler.entry import DatabaseEntry

__all__ = ["SermosScheduler", "SermosEntry", "DatabaseScheduler", "DatabaseEntry"]

#: The original's beat scheduler name; schedules now live in the database and change without restarts.
SermosScheduler = DatabaseScheduler
#: The original's beat entry name.
SermosEntry = DatabaseEntry

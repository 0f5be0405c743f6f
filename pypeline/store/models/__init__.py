"""Every Pypeline table, on one metadata: runs, schedules, batches, API keys and the operations tables."""
from __future__ import annotations

from pypeline.store.models.base import Base, TimestampMixin, iso_utc, utcnow
from pypeline.store.models.batches import BatchChunk, BatchRun
from pypeline.store.models.keys import ApiKey
from pypeline.store.models.ops import NodeLog, NotificationAttempt, RunTag
from pypeline.store.models.runs import Lock, NodeRun, PipelineRun, RunEvent
from pypeline.store.models.schedules import (
    CHANGES_ROW_ID,
    FireStatus,
    Schedule,
    ScheduleChanges,
    ScheduleFire,
    UTCDateTime,
)

__all__ = [
    "Base", "TimestampMixin", "utcnow", "iso_utc",
    "PipelineRun", "NodeRun", "RunEvent", "Lock",
    "RunTag", "NodeLog", "NotificationAttempt",
    "Schedule", "ScheduleChanges", "ScheduleFire", "FireStatus", "UTCDateTime", "CHANGES_ROW_ID",
    "BatchRun", "BatchChunk",
    "ApiKey",
]

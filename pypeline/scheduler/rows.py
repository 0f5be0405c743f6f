"""The scheduler's row types: schedule rows, fire log rows, writes, and their reading from result mappings."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pypeline.scheduler.spec import SPEC_FIELDS, ScheduleSpec

__all__ = ["ScheduleRow", "FireRow", "OfflineFire", "RowWrite", "row_of", "fire_of"]


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """One schedule row: its spec plus bookkeeping."""

    id: str
    spec: ScheduleSpec
    source: str
    api_fields: tuple[str, ...]
    deleted: bool
    next_fire_at: datetime | None
    last_fired_at: datetime | None
    total_fires: int
    last_error: str | None
    version: int
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def active(self) -> bool:
        """True when beat should keep it in its in-memory schedule."""
        return not self.deleted and self.spec.enabled and self.next_fire_at is not None


@dataclass(frozen=True)
class FireRow:
    """One recorded fire."""

    id: int
    schedule_id: str
    due_at: datetime
    claimed_at: datetime
    status: str
    attempts: int
    message_id: str
    beat: str | None = None
    sent_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class OfflineFire:
    """A fire sent from memory while the store was unreachable, written back once it answers."""

    schedule_id: str
    due_at: datetime
    next_fire_at: datetime | None
    message_id: str
    sent_at: datetime
    beat: str


@dataclass
class RowWrite:
    """One upsert for `ScheduleStore.write`: column values, and the version it must still have (None: any)."""

    id: str
    values: dict[str, Any]
    expect_version: int | None = None
    create: bool = False


#: Spec columns whose values repeat across rows (handlers, queues, zones): one string object each in beat's memory.
_SHARED_TEXT = frozenset({"target_kind", "target", "kind", "cron", "timezone", "queue", "exchange", "routing_key"})


def _spec_value(r: Any, name: str) -> Any:
    value = r[name]
    return sys.intern(value) if name in _SHARED_TEXT and isinstance(value, str) else value


def row_of(r: Any) -> ScheduleRow:
    """A schedule row from a result mapping."""
    values = {name: _spec_value(r, name) for name in SPEC_FIELDS}
    if values["payload"] is None:  # the column is nullable; a spec's payload is always a dict
        values["payload"] = {}
    spec = ScheduleSpec(**values)
    return ScheduleRow(
        id=r["id"], spec=spec, source=r["source"], api_fields=tuple(r["api_fields"] or ()), deleted=bool(r["deleted"]),
        next_fire_at=r["next_fire_at"], last_fired_at=r["last_fired_at"], total_fires=int(r["total_fires"] or 0),
        last_error=r["last_error"], version=int(r["version"] or 0), created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def fire_of(r: Any) -> FireRow:
    """A fire row from a result mapping."""
    return FireRow(id=int(r["id"]), schedule_id=r["schedule_id"], due_at=r["due_at"], claimed_at=r["claimed_at"],
                   status=r["status"], attempts=int(r["attempts"]), message_id=r["message_id"], beat=r["beat"],
                   sent_at=r["sent_at"], error=r["error"])

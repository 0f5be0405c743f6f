"""Beat's in-memory schedule: one compact entry per active schedule and a heap of due times."""
from __future__ import annotations

import ctypes
import heapq
from collections.abc import Iterator
from datetime import datetime

from pypeline.scheduler.spec import ScheduleSpec
from pypeline.scheduler.store import ScheduleRow

__all__ = ["DueEntry", "DueSchedule", "release_free_memory"]


def release_free_memory() -> None:
    """Return freed heap pages to the OS after a bulk load (glibc `malloc_trim`; a no-op elsewhere).

    Loading 10,000 rows allocates and frees far more than the compact entries kept; without this the
    process keeps the peak as RSS for its lifetime.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own symbols: glibc's, if it is glibc
    except (OSError, AttributeError):
        return
    trim(0)


class DueEntry:
    """What beat keeps of one active schedule (the rest of the row stays in the store)."""

    __slots__ = ("id", "spec", "next_fire_at", "last_fired_at", "total_fires")

    def __init__(self, id: str, spec: ScheduleSpec, next_fire_at: datetime | None,  # noqa: A002 - the row's name
                 last_fired_at: datetime | None, total_fires: int) -> None:
        self.id = id
        self.spec = spec
        self.next_fire_at = next_fire_at
        self.last_fired_at = last_fired_at
        self.total_fires = total_fires

    @classmethod
    def of(cls, row: ScheduleRow) -> DueEntry:
        """The entry of a row."""
        return cls(row.id, row.spec, row.next_fire_at, row.last_fired_at, row.total_fires)


class DueSchedule:
    """Active entries by id, plus a heap of (look at, id, due) items; stale items are skipped when popped."""

    def __init__(self) -> None:
        self._entries: dict[str, DueEntry] = {}
        self._heap: list[tuple[datetime, str, datetime]] = []

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[DueEntry]:
        return iter(self._entries.values())

    def get(self, schedule_id: str) -> DueEntry | None:
        """The entry of `schedule_id`, if active."""
        return self._entries.get(schedule_id)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
        self._heap.clear()

    def apply(self, row: ScheduleRow) -> None:
        """Take a row as read from the store: keep it if active, drop it otherwise."""
        if not row.active:
            self.discard(row.id)
            return
        self.put(DueEntry.of(row))

    def put(self, entry: DueEntry) -> None:
        """Keep `entry` (replacing the one with its id); None as next fire drops it."""
        if entry.next_fire_at is None:
            self.discard(entry.id)
            return
        old = self._entries.get(entry.id)
        self._entries[entry.id] = entry
        if old is None or old.next_fire_at != entry.next_fire_at:
            heapq.heappush(self._heap, (entry.next_fire_at, entry.id, entry.next_fire_at))
        if len(self._heap) > 2 * len(self._entries) + 1024:  # drop stale heap items now and then
            self._heap = [(e.next_fire_at, e.id, e.next_fire_at) for e in self._entries.values()
                          if e.next_fire_at is not None]
            heapq.heapify(self._heap)

    def discard(self, schedule_id: str) -> None:
        """Forget one schedule (its heap items go stale)."""
        self._entries.pop(schedule_id, None)

    def retry_at(self, entry: DueEntry, due: datetime, when: datetime) -> None:
        """Look at `entry`'s slot `due` again at `when` (it could not be handled now)."""
        heapq.heappush(self._heap, (when, entry.id, due))

    def next_look(self) -> datetime | None:
        """When the earliest heap item is due (it may be stale: then beat wakes early, harmlessly)."""
        return self._heap[0][0] if self._heap else None

    def has_due(self, now: datetime) -> bool:
        """True when a heap item's look-at time has come."""
        return bool(self._heap) and self._heap[0][0] <= now

    def pop_due(self, now: datetime) -> tuple[DueEntry, datetime] | None:
        """The next (entry, due slot) whose look-at time has come, or None."""
        while self._heap and self._heap[0][0] <= now:
            _, sid, due = heapq.heappop(self._heap)
            entry = self._entries.get(sid)
            if entry is not None and entry.next_fire_at == due:
                return entry, due
        return None

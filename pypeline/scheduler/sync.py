"""Sync `scheduledTasks` from config into the schedule table without losing bookkeeping or API edits.

Rules (applied at every beat start and by `pypeline.services.schedules.sync_config_schedules`):

1. A config entry with no row is inserted (`source="config"`); its first fire is computed from now.
2. A config entry whose row came from config is updated field by field from the file, except the
   fields changed through the API since (`api_fields`, e.g. `enabled` after `schedules disable`):
   API edits win until the row is deleted. Bookkeeping (last fire, total fires, last error) is never
   touched; the next fire is recomputed from now only when the timing changed or it was re-enabled.
3. A config row deleted through the API stays deleted (its tombstone remembers it).
4. A row created through the API whose id a config entry also uses is left alone (reported).
5. A row from config whose entry left the file is deleted (tombstoned).
6. An entry that cannot be scheduled (e.g. an interval under 1 s) is reported and skipped.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pypeline.config.model import ScheduleConfig
from pypeline.errors import InvalidInputError
from pypeline.scheduler.plan import first_fire
from pypeline.scheduler.spec import SPEC_FIELDS, ScheduleSpec, spec_from_config
from pypeline.scheduler.store import ConflictError, RowWrite, ScheduleRow, ScheduleStore
from pypeline.store.models import utcnow

__all__ = ["sync_schedules", "SyncReport", "spec_values", "DELETED_FIELD"]

log = logging.getLogger(__name__)

#: Marker in `api_fields` of a config row deleted through the API.
DELETED_FIELD = "deleted"


@dataclass
class SyncReport:
    """What a sync did, by schedule id."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"created": self.created, "updated": self.updated, "deleted": self.deleted,
                "unchanged": self.unchanged, "skipped": self.skipped}


def spec_values(spec: ScheduleSpec) -> dict[str, Any]:
    """Column values of a spec."""
    return {name: getattr(spec, name) for name in SPEC_FIELDS}


def _merged(config_spec: ScheduleSpec, row: ScheduleRow) -> ScheduleSpec:
    """The config's spec with the row's API-edited fields kept."""
    keep = {name: getattr(row.spec, name) for name in row.api_fields if name in SPEC_FIELDS}
    if keep.keys() & {"kind", "cron", "interval_seconds", "run_at", "timezone"}:
        # Timing is one unit: an API edit of any part keeps all of it.
        keep.update({name: getattr(row.spec, name) for name in ("kind", "cron", "interval_seconds", "run_at",
                                                                 "timezone")})
    if keep.keys() & {"target_kind", "target"}:
        keep.update(target_kind=row.spec.target_kind, target=row.spec.target)
    return ScheduleSpec(**{**spec_values(config_spec), **keep})


def _plan_update(row: ScheduleRow, spec: ScheduleSpec, now: datetime) -> RowWrite | None:
    if spec == row.spec:
        return None
    values = spec_values(spec)
    if not spec.enabled:
        values["next_fire_at"] = None
    elif spec.timing() != row.spec.timing() or not row.spec.enabled or row.next_fire_at is None:
        values["next_fire_at"] = first_fire(spec, now)
    return RowWrite(row.id, values, expect_version=row.version)


def sync_schedules(store: ScheduleStore, schedules: Mapping[str, ScheduleConfig], *, attempts: int = 5) -> SyncReport:
    """Apply the rules above in one transaction (retried when another beat syncs at the same time)."""
    for attempt in range(attempts):
        try:
            return _sync_once(store, schedules)
        except ConflictError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _sync_once(store: ScheduleStore, schedules: Mapping[str, ScheduleConfig]) -> SyncReport:
    now = utcnow()
    report = SyncReport()
    rows = {r.id: r for r in store.sync_rows(schedules)}
    writes: list[RowWrite] = []
    for sid, entry in schedules.items():
        try:
            spec = spec_from_config(entry)
        except InvalidInputError as exc:
            report.skipped[sid] = str(exc)
            continue
        row = rows.get(sid)
        if row is None:
            values = {**spec_values(spec), "source": "config", "api_fields": [], "deleted": False,
                      "next_fire_at": first_fire(spec, now), "last_error": None}
            writes.append(RowWrite(sid, values, create=True))
            report.created.append(sid)
        elif row.source != "config":
            report.skipped[sid] = "an API-created schedule uses this id; it is left as it is"
        elif row.deleted:
            if DELETED_FIELD in row.api_fields:
                report.unchanged.append(sid)
                continue
            values = {**spec_values(spec), "api_fields": [], "deleted": False, "next_fire_at": first_fire(spec, now)}
            writes.append(RowWrite(sid, values, expect_version=row.version))
            report.created.append(sid)
        else:
            write = _plan_update(row, _merged(spec, row), now)
            if write is None:
                report.unchanged.append(sid)
            else:
                writes.append(write)
                report.updated.append(sid)
    for sid, row in rows.items():
        if row.source == "config" and not row.deleted and sid not in schedules:
            writes.append(RowWrite(sid, {"deleted": True, "next_fire_at": None}, expect_version=row.version))
            report.deleted.append(sid)
    store.write(writes)
    for sid, why in report.skipped.items():
        log.warning("schedule %s from config not synced: %s", sid, why)
    return report

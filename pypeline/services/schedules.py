"""Schedule management: the one API that the CLI, the HTTP API and beat's config sync share.

Input documents are the original's `scheduledTasks` entry or a flat shape; see
`pypeline.scheduler.spec` for both. Every function returns plain JSON-ready dicts in the
original's shape plus bookkeeping::

    {"id": "nightly", "name": "Nightly", "schemaVersion": 1, "enabled": true,
     "config": {"scheduleType": "crontab", "task": "pkg.mod.fn", "schedule": {...}, "timezone": "UTC",
                "payload": {}, "queue": "q", ...},
     "source": "api", "lastRunAt": "...", "totalRunCount": 3, "nextRunAt": "...", "lastError": null,
     "apiFields": [], "createdAt": "...", "updatedAt": "..."}

`queue`, `exchange`, `routingKey` and `expires` apply to task targets (a task with no queue goes to
the first queue the config names); a pipeline target runs with its nodes' own queues.

Bad input raises InvalidInputError and writes nothing; an unknown id raises NotFoundError; a
concurrent edit of the same schedule raises ConflictError (retry).
"""
from __future__ import annotations

import re
import uuid
from typing import Any

from pypeline.engines.payload import validate_payload
from pypeline.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from pypeline.formats import check_json_size, iso_utc
from pypeline.runtime import Runtime
from pypeline.scheduler.plan import first_fire
from pypeline.scheduler.spec import (
    SPEC_FIELDS,
    ScheduleSpec,
    check_target,
    merge_schedule,
    parse_schedule,
    spec_document,
)
from pypeline.scheduler.store import ConflictError, FireRow, RowWrite, ScheduleRow, ScheduleStore
from pypeline.scheduler.sync import DELETED_FIELD, spec_values, sync_schedules
from pypeline.store.models import utcnow

__all__ = [
    "list_schedules",
    "get_schedule",
    "create_schedule",
    "update_schedule",
    "set_enabled",
    "delete_schedule",
    "sync_config_schedules",
    "list_fires",
    "schedule_store",
    "ConflictError",
]

_ID_PATTERN = re.compile(r"^[\w.\-:@]{1,200}$")
_TIMING = ("kind", "cron", "timezone", "interval_seconds", "run_at")


def schedule_store(rt: Runtime) -> ScheduleStore:
    """The schedule store of the runtime's database (migrated on first use in this process)."""
    return ScheduleStore(rt.settings.resolved_database_url)


def _document(row: ScheduleRow) -> dict[str, Any]:
    return {
        "id": row.id,
        **spec_document(row.spec),
        "source": row.source,
        "lastRunAt": iso_utc(row.last_fired_at),
        "totalRunCount": row.total_fires,
        "nextRunAt": iso_utc(row.next_fire_at),
        "lastError": row.last_error,
        "apiFields": list(row.api_fields),
        "createdAt": iso_utc(row.created_at),
        "updatedAt": iso_utc(row.updated_at),
    }


def _fire_document(fire: FireRow) -> dict[str, Any]:
    return {"scheduleId": fire.schedule_id, "dueAt": iso_utc(fire.due_at), "status": fire.status,
            "sentAt": iso_utc(fire.sent_at), "attempts": fire.attempts, "messageId": fire.message_id,
            "beat": fire.beat, "error": fire.error}


def _live(store: ScheduleStore, schedule_id: str) -> ScheduleRow:
    row = store.get(schedule_id)
    if row is None:
        raise NotFoundError(f"unknown schedule {schedule_id!r}")
    return row


def _validate(rt: Runtime, spec: ScheduleSpec, *, timing_changed: bool) -> None:
    """Checks that need the config or the clock (parsing already checked the shape)."""
    check_target(spec, rt.config)
    if spec.target_kind == "pipeline":
        validate_payload(rt.config.pipeline(spec.target), spec.payload, rt.settings.max_payload_bytes)
    else:
        check_json_size(spec.payload, rt.settings.max_payload_bytes, what="payload")
    if timing_changed and spec.kind == "oneoff" and spec.run_at is not None and spec.run_at <= utcnow():
        raise InvalidInputError(f"invalid schedule: one-off time {spec.run_at.isoformat()} is in the past")


def _check_name(store: ScheduleStore, name: str, schedule_id: str) -> None:
    owner = store.id_for_name(name)
    if owner is not None and owner != schedule_id:
        raise AlreadyExistsError(f"invalid schedule: name {name!r} is already used by schedule {owner!r}")


def _new_id(store: ScheduleStore, name: str) -> str:
    slug = re.sub(r"[^\w.\-:@]+", "-", name.strip().lower()).strip("-")[:100]
    if slug and _ID_PATTERN.match(slug) and store.get(slug, include_deleted=True) is None:
        return slug
    return uuid.uuid4().hex


def list_schedules(rt: Runtime) -> list[dict[str, Any]]:
    """Every schedule (not deleted), ordered by id."""
    return [_document(row) for row in schedule_store(rt).list_rows()]


def get_schedule(rt: Runtime, schedule_id: str) -> dict[str, Any]:
    """One schedule, or NotFoundError."""
    return _document(_live(schedule_store(rt), schedule_id))


def create_schedule(rt: Runtime, data: dict[str, Any]) -> dict[str, Any]:
    """Create a schedule from a document (either shape; optional "id", else derived from the name).

    Its first fire is computed from now. The target must be a task or pipeline declared in config.
    """
    spec = parse_schedule(data)
    _validate(rt, spec, timing_changed=True)
    store = schedule_store(rt)
    schedule_id = data.get("id")
    if schedule_id is None:
        schedule_id = _new_id(store, spec.name)
    elif not isinstance(schedule_id, str) or not _ID_PATTERN.match(schedule_id):
        raise InvalidInputError(f"invalid schedule: id {schedule_id!r} must be 1-200 letters, digits or _ . - : @")
    existing = store.get(schedule_id, include_deleted=True)
    if existing is not None and not existing.deleted:
        raise AlreadyExistsError(f"invalid schedule: schedule {schedule_id!r} already exists")
    _check_name(store, spec.name, schedule_id)
    values = {**spec_values(spec), "source": "api", "api_fields": [], "deleted": False,
              "next_fire_at": first_fire(spec, utcnow()), "last_error": None, "last_fired_at": None,
              "total_fires": 0}
    store.write([RowWrite(schedule_id, values, create=existing is None,
                          expect_version=existing.version if existing is not None else None)])
    return get_schedule(rt, schedule_id)


def update_schedule(rt: Runtime, schedule_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Change some fields of a schedule (a partial document in either shape).

    A change of timing, or re-enabling, computes the next fire from now; bookkeeping is kept. On a
    schedule that came from config, the changed fields are remembered so config sync keeps them.
    """
    store = schedule_store(rt)
    row = _live(store, schedule_id)
    if isinstance(data, dict) and data.get("id") not in (None, schedule_id):
        raise InvalidInputError("invalid schedule: the id of a schedule cannot be changed")
    spec = merge_schedule(row.spec, data)
    return _save(rt, store, row, spec)


def set_enabled(rt: Runtime, schedule_id: str, enabled: bool) -> dict[str, Any]:
    """Enable or disable a schedule (re-enabling fires next from now, never for slots missed while off)."""
    if not isinstance(enabled, bool):
        raise InvalidInputError(f"enabled must be true or false, got {enabled!r}")
    store = schedule_store(rt)
    row = _live(store, schedule_id)
    return _save(rt, store, row, ScheduleSpec(**{**spec_values(row.spec), "enabled": enabled}))


def _save(rt: Runtime, store: ScheduleStore, row: ScheduleRow, spec: ScheduleSpec) -> dict[str, Any]:
    changed = [name for name in SPEC_FIELDS if getattr(spec, name) != getattr(row.spec, name)]
    if not changed:
        return _document(row)
    timing_changed = any(name in _TIMING for name in changed)
    if changed != ["enabled"] or spec.enabled:  # disabling alone needs no config: it can only stop fires
        _validate(rt, spec, timing_changed=timing_changed)
    if "name" in changed:
        _check_name(store, spec.name, row.id)
    values = spec_values(spec)
    if timing_changed or "enabled" in changed:
        values["next_fire_at"] = first_fire(spec, utcnow())
    if row.source == "config":
        values["api_fields"] = sorted(set(row.api_fields) | set(changed))
    store.write([RowWrite(row.id, values, expect_version=row.version)])
    return get_schedule(rt, row.id)


def delete_schedule(rt: Runtime, schedule_id: str) -> None:
    """Delete a schedule (beats drop it within a second; a config schedule stays deleted on later syncs)."""
    store = schedule_store(rt)
    row = _live(store, schedule_id)
    values: dict[str, Any] = {"deleted": True, "next_fire_at": None}
    if row.source == "config":
        values["api_fields"] = sorted(set(row.api_fields) | {DELETED_FIELD})
    store.write([RowWrite(row.id, values, expect_version=row.version)])


def sync_config_schedules(rt: Runtime) -> dict[str, Any]:
    """Sync config `scheduledTasks` into the table (rules in pypeline.scheduler.sync); returns what changed."""
    return sync_schedules(schedule_store(rt), rt.config.schedules).as_dict()


def list_fires(rt: Runtime, schedule_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The latest logged fires of a schedule, newest first (a deleted schedule is gone: NotFoundError)."""
    store = schedule_store(rt)
    if store.get(schedule_id) is None:
        raise NotFoundError(f"unknown schedule {schedule_id!r}")
    return [_fire_document(f) for f in store.fires(schedule_id, limit=limit)]

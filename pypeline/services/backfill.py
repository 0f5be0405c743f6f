"""Backfill: start one run per slot of a pipeline schedule over a past (or any) time range.

Slots come from the scheduler's own timing code (cron with DST rules, intervals in phase with the
schedule, one-off times). Each slot's run id is the one beat would give that fire, so a slot already
run (by beat or an earlier backfill) is never started twice. Runs are tagged `backfill` and
`slot=<UTC time>`, carry the origin `backfill:<schedule id>`, and queue under the pipeline's
`maxActiveRuns` whatever its `onLimit`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from pypeline.errors import InvalidInputError, NotFoundError
from pypeline.runtime import Runtime
from pypeline.scheduler.dispatch import message_id
from pypeline.scheduler.plan import slot_after
from pypeline.scheduler.spec import ScheduleSpec
from pypeline.scheduler.store import ScheduleRow
from pypeline.scheduler.timing import utc
from pypeline.services.run_search import parse_time
from pypeline.services.schedules import schedule_store
from pypeline.status import Status
from pypeline.store.search import RunFilter, search_runs

__all__ = ["MAX_SLOTS", "BACKFILL_TAG", "slots", "backfill"]

#: Most slots one backfill may start (a typo in a range must not start a million runs).
MAX_SLOTS = 10_000
BACKFILL_TAG = "backfill"
_ACTIVE = (Status.PENDING, Status.QUEUED, Status.RUNNING, Status.PAUSED)


def _interval_anchor(row: ScheduleRow, start: datetime) -> datetime:
    """A past slot of an interval schedule at or before `start`, in phase with its known slots."""
    spec = row.spec
    step = timedelta(seconds=float(spec.interval_seconds or 0))
    known = row.next_fire_at or row.last_fired_at or start
    known = utc(known)
    if known <= start:
        return known
    return known - step * (int((known - start) / step) + 1)


def slots(row: ScheduleRow, start: datetime, end: datetime) -> Iterator[datetime]:
    """Slots of the schedule with start <= slot <= end, oldest first."""
    spec: ScheduleSpec = row.spec
    if spec.kind == "oneoff":
        if spec.run_at is not None and start <= utc(spec.run_at) <= end:
            yield utc(spec.run_at)
        return
    anchor = _interval_anchor(row, start) if spec.kind == "interval" else start
    after = start - timedelta(microseconds=1)
    while True:
        slot = slot_after(spec, anchor, after)
        if slot is None or utc(slot) > end:
            return
        yield utc(slot)
        after = slot


def _wait_for_room(rt: Runtime, origin: str, max_active: int, poll: float) -> None:
    flt = RunFilter(origin=origin, statuses=_ACTIVE)
    while search_runs(rt.store.engine, flt, limit=1)[1] >= max_active:
        time.sleep(poll)


def backfill(
    rt: Runtime,
    schedule_id: str,
    start: str | datetime,
    end: str | datetime,
    *,
    max_active: int | None = None,
    dry_run: bool = False,
    poll: float = 1.0,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Start the runs of every slot in [start, end]; with `max_active`, never more than that many at once (waits).

    Returns {"schedule", "pipeline", "dry_run", "slots": [{"slot", "run_id", "outcome"}], "started", "existing",
    "planned"}; a slot's outcome is "started", "existing" (it already has a run) or "planned" (dry run).
    """
    row = schedule_store(rt).get(schedule_id)
    if row is None:
        raise NotFoundError(f"unknown schedule {schedule_id!r}")
    if row.spec.target_kind != "pipeline":
        raise InvalidInputError(f"schedule {schedule_id!r} sends a task, not a pipeline run: nothing to backfill")
    begin, finish = parse_time(start, "from"), parse_time(end, "to")
    assert begin is not None and finish is not None
    if begin > finish:
        raise InvalidInputError("--from must not be after --to")
    if begin.year < 1970 or finish.year > 9000:
        raise InvalidInputError("a backfill range must lie between the years 1970 and 9000")
    if max_active is not None and max_active < 1:
        raise InvalidInputError("max_active must be >= 1")
    rt.config.pipeline(row.spec.target)  # the pipeline must still be declared
    found: list[datetime] = []
    for slot in slots(row, begin, finish):
        found.append(slot)
        if len(found) > MAX_SLOTS:
            raise InvalidInputError(f"more than {MAX_SLOTS} slots in that range; backfill a shorter one")
    origin = f"backfill:{schedule_id}"
    out: list[dict[str, Any]] = []
    for slot in found:
        run_id = message_id(schedule_id, slot)
        entry = {"slot": slot.isoformat(), "run_id": run_id, "outcome": "existing"}
        out.append(entry)
        if _exists(rt, run_id):
            continue  # that slot already ran (beat or an earlier backfill)
        if dry_run:
            entry["outcome"] = "planned"
            continue
        if max_active is not None:
            _wait_for_room(rt, origin, max_active, poll)
        try:
            rt.start_run(row.spec.target, dict(row.spec.payload), run_id=run_id, origin=origin, on_limit="queue",
                         tags=[BACKFILL_TAG, "slot=" + slot.strftime("%Y-%m-%dT%H:%M:%SZ")])
        except IntegrityError:
            continue  # started at the same moment by beat or another backfill
        entry["outcome"] = "started"
        if on_run is not None:
            on_run(entry)
    counts = {k: sum(1 for e in out if e["outcome"] == k) for k in ("started", "existing", "planned")}
    return {"schedule": schedule_id, "pipeline": row.spec.target, "dry_run": dry_run, "slots": out, **counts}


def _exists(rt: Runtime, run_id: str) -> bool:
    try:
        rt.store.get_run(run_id)
    except NotFoundError:
        return False
    return True

"""Next-fire planning of a schedule: first fire from "now", the slot after a fire, and catch-up of missed slots."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pypeline.scheduler.spec import ScheduleSpec
from pypeline.scheduler.timing import first_slot_after, utc

__all__ = ["first_fire", "slot_after", "FirePlan", "plan_fire", "CatchUp"]

CatchUp = Literal["once", "skip"]


def first_fire(spec: ScheduleSpec, now: datetime) -> datetime | None:
    """Next fire of a new, edited or re-enabled schedule, computed from `now` (never "at once" for lack of a run)."""
    if not spec.enabled:
        return None
    return first_slot_after(spec.kind, now, cron=spec.cron, tz_name=spec.timezone, seconds=spec.interval_seconds,
                            run_at=spec.run_at)


def slot_after(spec: ScheduleSpec, anchor: datetime, after: datetime) -> datetime | None:
    """The first slot strictly after `after`; interval slots stay in phase with `anchor` (a previous slot)."""
    return first_slot_after(spec.kind, after, cron=spec.cron, tz_name=spec.timezone, anchor=anchor,
                            seconds=spec.interval_seconds, run_at=spec.run_at)


@dataclass(frozen=True)
class FirePlan:
    """What to do with a due slot: send it or not, and where the schedule goes next."""

    fire: bool
    next_fire_at: datetime | None
    #: True when earlier slots were missed (beat down longer than the grace) and the policy was applied.
    caught_up: bool = False


def plan_fire(spec: ScheduleSpec, due: datetime, now: datetime, *, catch_up: CatchUp, grace: float) -> FirePlan:
    """Plan the due slot `due` at time `now`.

    Slots less than `grace` seconds old are never "missed": each fires on its own (a beat that is a
    little behind catches up slot by slot). Older slots were missed: with `once` the missed slots
    together fire once (this one), with `skip` none of them fires; either way the schedule moves to
    its first slot that is not missed.
    """
    due, now = utc(due), utc(now)
    horizon = now - timedelta(seconds=grace)
    if spec.kind == "oneoff":
        missed = due < horizon
        return FirePlan(fire=not missed or catch_up == "once", next_fire_at=None, caught_up=missed)
    if due >= horizon:
        return FirePlan(fire=True, next_fire_at=slot_after(spec, due, due))
    return FirePlan(fire=catch_up == "once", next_fire_at=slot_after(spec, due, horizon), caught_up=True)

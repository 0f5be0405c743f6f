"""When a schedule is due: cron (timezone and DST aware, with croniter), intervals and one-off times.

DST rules follow Vixie cron. A *fixed-time* cron entry (neither the minute nor the hour field starts
with `*`, e.g. `30 2 * * *`) fires once per matching local date and time: a time skipped by a
spring-forward fires at the end of the gap (03:00 for 02:30 in Europe/Paris), and a time repeated
by a fall-back fires only at its first occurrence. A *wildcard* entry (`*/15 * * * *`,
`30 * * * *`) follows elapsed time instead: it fires at every real occurrence of a matching wall
time, so a repeated hour fires twice and a skipped hour not at all.
"""
from __future__ import annotations

import math
import zoneinfo
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from croniter import croniter

from pypeline.config.schedule_timing import cron_is_valid, zone
from pypeline.formats import utc

__all__ = [
    "cron_is_valid",
    "next_cron",
    "zone",
    "next_interval",
    "first_slot_after",
    "utc",
]

UTC = timezone.utc
#: Largest change of UTC offset at a transition we must look around (real zones use at most 2 h).
_SHIFT = timedelta(hours=3)
#: Naive cron candidates examined before giving up (a valid expression matches far sooner).
_MAX_CANDIDATES = 10_000
#: Two equal UTC offsets at most this far apart are taken to mean "no transition in between".
_STEADY_SPAN = timedelta(days=7)




def _is_fixed_time(expression: str) -> bool:
    minute, hour = expression.split()[:2]
    return not (minute.startswith("*") or hour.startswith("*"))


def _exists(naive: datetime, tz: zoneinfo.ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def _gap_end(naive: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """The first instant after the spring-forward gap that contains the non-existent wall time `naive`."""
    lo = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)  # uses the offset after the gap: an instant before it
    hi = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)  # uses the offset before the gap: an instant after it
    after = hi.astimezone(tz).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def _instants(naive: datetime, tz: zoneinfo.ZoneInfo, fixed: bool) -> list[datetime]:
    """The UTC instants at which the local wall time `naive` fires, by the DST rules above."""
    if not _exists(naive, tz):
        return [_gap_end(naive, tz)] if fixed else []
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first == second or fixed:
        return [first]
    return [first, second]


def _candidates(expression: str, start: datetime) -> Iterator[datetime]:
    it = croniter(expression, start)
    for _ in range(_MAX_CANDIDATES):
        yield it.get_next(datetime)


def _naive(instant: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _steady(tz: zoneinfo.ZoneInfo, start: datetime, end: datetime) -> bool:
    """True when no UTC-offset change can lie in [start, end] (equal offsets at both ends, under a week apart)."""
    return end - start <= _STEADY_SPAN and start.astimezone(tz).utcoffset() == end.astimezone(tz).utcoffset()


def next_cron(expression: str, tz_name: str, after: datetime) -> datetime:
    """The first fire time (UTC) of a cron expression read in `tz_name`, strictly after `after`."""
    tz = zone(tz_name)
    after = utc(after)
    fixed = _is_fixed_time(expression)
    # Near a transition, start early enough in wall time to see the second pass of a repeated hour.
    quick = _steady(tz, after - _SHIFT, after + _SHIFT)
    start = _naive(after, tz) - (timedelta(0) if quick else _SHIFT)
    best: datetime | None = None
    for naive in _candidates(expression, start):
        if best is not None and naive - _SHIFT > _naive(best, tz):
            return best
        for instant in _instants(naive, tz, fixed):
            if instant > after and (best is None or instant < best):
                best = instant
        if best is not None and _steady(tz, after - _SHIFT, best + _SHIFT):
            return best  # no transition in between: later wall times cannot map to an earlier instant
    if best is None:
        raise ValueError(f"cron expression {expression!r} never fires")
    return best


def next_interval(anchor: datetime, seconds: float, after: datetime) -> datetime:
    """The first of anchor + k * seconds (k >= 1) strictly after `after`: keeps the schedule's phase."""
    anchor, after = utc(anchor), utc(after)
    step = timedelta(seconds=seconds)
    if after < anchor + step:
        return anchor + step
    k = math.floor((after - anchor) / step) + 1
    slot = anchor + step * k
    while slot <= after:  # float rounding of very small steps
        slot += step
    return slot


def first_slot_after(kind: str, after: datetime, *, cron: str | None = None, tz_name: str = "UTC",
                     anchor: datetime | None = None, seconds: float | None = None,
                     run_at: datetime | None = None) -> datetime | None:
    """The first slot of a schedule strictly after `after` (None: a one-off that is over)."""
    if kind == "crontab":
        assert cron is not None
        return next_cron(cron, tz_name, after)
    if kind == "interval":
        assert seconds is not None
        return next_interval(anchor if anchor is not None else after, seconds, after)
    if kind == "oneoff":
        assert run_at is not None
        return run_at if utc(run_at) > utc(after) else None
    raise ValueError(f"unknown schedule kind {kind!r}")

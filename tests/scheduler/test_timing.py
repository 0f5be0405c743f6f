"""Cron maths in the schedule's timezone (DST included), intervals in phase, one-offs, catch-up planning."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from pypeline.scheduler.plan import first_fire, plan_fire
from pypeline.scheduler.spec import ScheduleSpec
from pypeline.scheduler.timing import cron_is_valid, next_cron, next_interval

PARIS = ZoneInfo("Europe/Paris")
UTC = timezone.utc


def _fires(expression: str, start: datetime, count: int, tz: str = "Europe/Paris") -> list[datetime]:
    out, t = [], start
    for _ in range(count):
        t = next_cron(expression, tz, t)
        out.append(t)
    return out


def _local(values: list[datetime]) -> list[str]:
    return [v.astimezone(PARIS).strftime("%m-%d %H:%M%z") for v in values]


def test_daily_0230_paris_spring_forward_fires_once_at_end_of_gap() -> None:
    # 2025-03-30: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    fires = _fires("30 2 * * *", datetime(2025, 3, 28, 12, tzinfo=PARIS), 4)
    assert _local(fires) == ["03-29 02:30+0100", "03-30 03:00+0200", "03-31 02:30+0200", "04-01 02:30+0200"]
    assert fires[1] == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)


def test_daily_0230_paris_fall_back_fires_once() -> None:
    # 2025-10-26: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice, the job runs at the first.
    fires = _fires("30 2 * * *", datetime(2025, 10, 24, 12, tzinfo=PARIS), 4)
    assert _local(fires) == ["10-25 02:30+0200", "10-26 02:30+0200", "10-27 02:30+0100", "10-28 02:30+0100"]
    # Asking again from inside the repeated hour (second pass) must not fire the day's 02:30 again.
    inside_second_pass = datetime(2025, 10, 26, 2, 10, tzinfo=PARIS).replace(fold=1)
    assert next_cron("30 2 * * *", "Europe/Paris", inside_second_pass) == datetime(2025, 10, 27, 1, 30, tzinfo=UTC)


def test_wildcard_hour_follows_elapsed_time_across_dst() -> None:
    fall = _fires("30 * * * *", datetime(2025, 10, 26, 0, 10, tzinfo=PARIS), 5)
    assert [f.strftime("%H:%M") for f in fall] == ["22:30", "23:30", "00:30", "01:30", "02:30"]  # hourly in UTC
    spring = _fires("30 * * * *", datetime(2025, 3, 30, 0, 10, tzinfo=PARIS), 3)
    assert _local(spring) == ["03-30 00:30+0100", "03-30 01:30+0100", "03-30 03:30+0200"]  # no 02:30 that day


def test_cron_in_utc_and_other_zones() -> None:
    start = datetime(2026, 1, 15, 10, 7, tzinfo=UTC)
    assert next_cron("*/15 * * * *", "UTC", start) == datetime(2026, 1, 15, 10, 15, tzinfo=UTC)
    assert next_cron("0 9 * * 1", "America/New_York", start) == datetime(2026, 1, 19, 14, 0, tzinfo=UTC)
    assert next_cron("0 0 29 2 *", "UTC", start) == datetime(2028, 2, 29, tzinfo=UTC)


@pytest.mark.parametrize("expression", ["61 * * * *", "* * *", "a b c d e", "* * * * * *", "*/0 * * * *", ""])
def test_invalid_cron(expression: str) -> None:
    assert not cron_is_valid(expression)


def test_interval_keeps_phase() -> None:
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    assert next_interval(anchor, 10, anchor) == anchor + timedelta(seconds=10)
    assert next_interval(anchor, 10, anchor + timedelta(seconds=35)) == anchor + timedelta(seconds=40)
    assert next_interval(anchor, 10, anchor + timedelta(seconds=40)) == anchor + timedelta(seconds=50)


def _spec(**kw: object) -> ScheduleSpec:
    base: dict[str, object] = {"name": "s", "target_kind": "task", "target": "x.y", "kind": "interval",
                               "interval_seconds": 60.0}
    return ScheduleSpec(**{**base, **kw})  # type: ignore[arg-type]


def test_first_fire_is_a_period_from_now_never_at_once() -> None:
    now = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    assert first_fire(_spec(), now) == now + timedelta(seconds=60)
    assert first_fire(_spec(kind="crontab", cron="0 * * * *", interval_seconds=None), now) == \
        datetime(2026, 1, 1, 13, tzinfo=UTC)
    assert first_fire(_spec(enabled=False), now) is None


def test_plan_fire_catch_up_once_and_skip() -> None:
    spec = _spec()
    due = datetime(2026, 1, 1, 12, tzinfo=UTC)
    on_time = plan_fire(spec, due, due + timedelta(seconds=2), catch_up="skip", grace=10)
    assert on_time.fire and on_time.next_fire_at == due + timedelta(seconds=60) and not on_time.caught_up
    late_now = due + timedelta(minutes=5, seconds=20)
    once = plan_fire(spec, due, late_now, catch_up="once", grace=10)
    skip = plan_fire(spec, due, late_now, catch_up="skip", grace=10)
    assert once.fire and once.caught_up and not skip.fire and skip.caught_up
    # Both move to the first slot that is not missed, in phase with the old slots.
    assert once.next_fire_at == skip.next_fire_at == due + timedelta(minutes=6)
    oneoff = _spec(kind="oneoff", interval_seconds=None, run_at=due)
    assert plan_fire(oneoff, due, late_now, catch_up="once", grace=10).fire
    assert not plan_fire(oneoff, due, late_now, catch_up="skip", grace=10).fire
    assert plan_fire(oneoff, due, due, catch_up="skip", grace=10).next_fire_at is None

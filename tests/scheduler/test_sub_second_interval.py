"""The original's `every: 500, period: microseconds` passes `pypeline validate` and beat fires it, once a second.

A real DatabaseScheduler (this process, SQLite store, Redis broker, a manual clock) syncs the config schedule
itself and fires it; the messages are read back from the Redis queue (no worker needed).
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from pypeline.config import load_config
from pypeline.config.schedule_timing import MIN_INTERVAL_SECONDS
from pypeline.scheduler.beat import DatabaseScheduler
from pypeline.services import schedules as svc
from tests.scheduler.support import TASK, Harness, ManualClock, contiguous, run_beat

#: Queue `pypeline-demo` is renamed to a unique one per test (`Harness.on_redis`).
CONFIG = """\
serviceConfig:
  - name: sub-second
    registeredTasks:
      - handler: {task}
scheduledTasks:
  fast:
    name: Fast
    schemaVersion: 1
    enabled: true
    config:
      scheduleType: interval
      task: {task}
      queue: pypeline-demo
      schedule: {{every: 500, period: microseconds}}
"""


@pytest.fixture()
def fast_harness(tmp_path: Path, redis_url: str, sqlite_url: str) -> Iterator[Harness]:
    """A harness on the 500 µs config (a unique queue) and a SQLite store."""
    source = tmp_path / "source" / "fast.yaml"
    source.parent.mkdir()
    source.write_text(CONFIG.format(task=TASK))
    harness = Harness.on_redis(tmp_path, redis_url, sqlite_url, source)
    yield harness
    harness.close()


def test_microseconds_interval_validates_and_fires_once_a_second(fast_harness: Harness) -> None:
    h = fast_harness
    assert load_config(h.config).schedules["fast"].interval_seconds == pytest.approx(0.0005)  # `pypeline validate`
    clock = ManualClock()
    sched = DatabaseScheduler(app=h.rt.celery, clock=clock)  # syncs the config schedule into the table
    try:
        row = svc.schedule_store(h.rt).get("fast")
        assert row is not None and row.next_fire_at is not None, "beat's sync accepted the schedule"
        to_first = (row.next_fire_at - clock.now()).total_seconds()
        assert to_first >= MIN_INTERVAL_SECONDS, "the first fire is one (effective) period after the sync"
        clock.advance(to_first - MIN_INTERVAL_SECONDS)
        run_beat(sched, clock, 5 * MIN_INTERVAL_SECONDS + 0.1, step=0.05)  # ticks at 20 Hz for 5 s of beat time
    finally:
        sched.close()
    fires = sorted(svc.schedule_store(h.rt).fires("fast", limit=100), key=lambda fire: fire.due_at)
    assert [fire.due_at for fire in fires][:1] == [row.next_fire_at]
    assert len(fires) == 5, "one fire per second of beat time, not one per 500 µs slot"
    assert contiguous([fire.due_at for fire in fires], timedelta(seconds=MIN_INTERVAL_SECONDS))
    assert sorted(h.queued_ids()) == sorted(fire.message_id for fire in fires)

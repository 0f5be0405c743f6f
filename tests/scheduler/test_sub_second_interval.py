"""The original's `every: 500, period: microseconds` passes `pypeline validate` and beat fires it, once a second.

A real DatabaseScheduler (this process, SQLite store, Redis broker) syncs the config schedule and
fires it; the messages are read back from the Redis queue (no worker needed).
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from pypeline.config import load_config
from pypeline.config.schedule_timing import MIN_INTERVAL_SECONDS
from pypeline.scheduler.beat import DatabaseScheduler
from pypeline.services import schedules as svc
from tests.scheduler.conftest import REDIS_DB, TASK, Harness
from tests.scheduler.support import contiguous, wait_until

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
      queue: {queue}
      schedule: {{every: 500, period: microseconds}}
"""


@pytest.fixture()
def fast_harness(tmp_path: Path, redis_url: str, sqlite_url: str) -> Iterator[Harness]:
    """A harness on the 500 µs config (a unique queue) and a SQLite store."""
    queue = f"pypeline-test-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "fast.yaml"
    path.write_text(CONFIG.format(task=TASK, queue=queue))
    broker = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    harness = Harness(path, queue, broker, sqlite_url, tmp_path / "home")
    yield harness
    harness.redis.delete(harness.queue)
    harness.redis.close()


def test_microseconds_interval_validates_and_fires_once_a_second(fast_harness: Harness) -> None:
    h = fast_harness
    assert load_config(h.config).schedules["fast"].interval_seconds == pytest.approx(0.0005)  # `pypeline validate`
    sched = DatabaseScheduler(app=h.rt.celery)
    started = time.monotonic()

    def fired_three_times() -> bool:
        time.sleep(max(min(sched.tick(), 0.2), 0.0))
        return len(h.queued_ids()) >= 3

    wait_until(fired_three_times, timeout=15, interval=0, what="three fires of the 500 µs schedule")
    elapsed = time.monotonic() - started
    fires = sorted(svc.schedule_store(h.rt).fires("fast", limit=100), key=lambda fire: fire.due_at)
    assert len(fires) == len(h.queued_ids()) >= 3
    assert len(fires) <= elapsed / MIN_INTERVAL_SECONDS + 1, "no flood of sub-second slots"
    assert contiguous([fire.due_at for fire in fires], timedelta(seconds=MIN_INTERVAL_SECONDS))
    sched.close()

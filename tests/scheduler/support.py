"""Plain helpers of the scheduler tests: the config, the harness, a manual clock for beat, slot checks.

Waits (`wait_until`, `assert_stays`) and worker processes come from `tests.helpers`; fixtures stay in conftest.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

from redis import Redis

from pypeline.scheduler.beat import DatabaseScheduler
from tests.helpers import ROOT, Stack, client_runtime, unique_queue_config

__all__ = ["CONFIG", "TASK", "REDIS_DB", "redis_broker", "Harness", "ManualClock", "run_beat", "contiguous"]

#: The scheduler test config (queue `pypeline-demo`, renamed per test by `Harness.create`).
CONFIG = Path(__file__).parent / "schedules.yaml"
#: The task the tests schedule: counts each delivery in the harness's Redis hash.
TASK = "tests.scheduler.handlers.count_fire"
#: Redis database of these tests: not the shared test db, which other sessions flush at start (keys here are
#: unique per test, so nothing needs flushing).
REDIS_DB = 13


def redis_broker(redis_url: str) -> str:
    """The broker URL of these tests: the test Redis server, database `REDIS_DB`."""
    return redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"


@dataclass
class Harness(Stack):
    """A stack on a Redis broker plus this test's delivery counter (a Redis hash the handlers count into)."""

    counter: str = field(default_factory=lambda: f"fires-{uuid.uuid4().hex[:10]}")
    redis: Redis = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.redis = Redis.from_url(self.broker_url, decode_responses=True)

    @classmethod
    def on_redis(cls, tmp_path: Path, redis_url: str, database: str, source: Path = CONFIG) -> Harness:
        """`source` copied with a unique queue, a Redis broker (database `REDIS_DB`) and the given store."""
        config, queue = unique_queue_config(tmp_path, source)
        home = tmp_path / "home"
        return cls(client_runtime(config, redis_broker(redis_url), database, home), queue, config, home)

    @property
    def env(self) -> dict[str, str]:
        """Environment of worker and beat processes (handlers import `tests.*` from the repo root)."""
        return self.worker_env(PYPELINE_CONFIG=str(self.config),
                               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))

    def payload(self) -> dict[str, Any]:
        """The payload that makes the test handlers count deliveries in this test's hash."""
        return {"counter": self.counter, "redis": self.broker_url}

    def counts(self) -> dict[str, int]:
        """Deliveries per message id so far."""
        return {str(k): int(v) for k, v in self.redis.hgetall(self.counter).items()}

    def queued_ids(self) -> list[str]:
        """Task ids of the messages waiting in the test queue (no worker running)."""
        return [json.loads(m)["headers"]["id"] for m in self.redis.lrange(self.queue, 0, -1)]

    def close(self) -> None:
        """Delete this test's keys (counter and queue) and close the Redis client."""
        self.redis.delete(self.counter, self.queue)
        self.redis.close()


class ManualClock:
    """A beat clock that moves only when told to (wall and monotonic time together)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(timezone.utc)
        self._mono = 1_000.0

    def now(self) -> datetime:
        """Current wall time of this clock."""
        return self._now

    def monotonic(self) -> float:
        """Current monotonic time of this clock."""
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


def run_beat(sched: DatabaseScheduler, clock: ManualClock, seconds: float, step: float = 0.25) -> None:
    """Run beat for `seconds` of its clock: tick, move the clock by `step`, repeat."""
    for _ in range(round(seconds / step)):
        sched.tick()
        clock.advance(step)


def contiguous(dues: list[datetime], step: timedelta = timedelta(seconds=1)) -> bool:
    """True when consecutive due times are exactly `step` apart (no slot missed, none repeated)."""
    return all(b - a == step for a, b in pairwise(dues))

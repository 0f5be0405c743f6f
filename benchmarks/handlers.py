"""Trivial task functions for the engine and scale benchmarks, and an opt-in published-message size probe.

With `PYPELINE_BENCH_MSG_STATS` set to a Redis URL, every process that imports this module (workers register
the handler, clients validate it) records the largest task message it publishes (JSON body + headers, bytes)
and how many it published, in the Redis hash `PYPELINE_BENCH_MSG_KEY` (default `pypeline-bench:msg`; fields
`max:<pid>` and `count:<pid>`).
"""
from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["noop", "MSG_STATS_KEY", "message_stats"]

#: Redis hash holding the per-process message statistics.
MSG_STATS_KEY = "pypeline-bench:msg"


def noop(*args: Any, event: dict[str, Any] | None = None) -> int:
    """Do nothing and return 1; accepts a raw-canvas parent result as positional args, or a node `event`."""
    return 1


def message_stats(redis_url: str, key: str = MSG_STATS_KEY) -> dict[str, int]:
    """Largest message (bytes) and number of messages published, over every probed process."""
    import redis

    raw = redis.Redis.from_url(redis_url).hgetall(key)
    fields = {k.decode(): int(v) for k, v in raw.items()}
    return {"max_bytes": max((v for k, v in fields.items() if k.startswith("max:")), default=0),
            "messages": sum(v for k, v in fields.items() if k.startswith("count:"))}


class _MessageProbe:
    """before_task_publish receiver: keeps this process's max size, pushing it to Redis when it grows."""

    def __init__(self, redis_url: str, key: str) -> None:
        import redis

        self.client = redis.Redis.from_url(redis_url)
        self.key = key
        self.largest = 0
        self.count = 0

    def __call__(self, body: Any = None, headers: dict[str, Any] | None = None, **_: Any) -> None:
        size = len(json.dumps(body, default=str)) + len(json.dumps(headers or {}, default=str))
        self.count += 1
        pid = os.getpid()
        pipe = self.client.pipeline(transaction=False)
        pipe.hincrby(self.key, f"count:{pid}", 1)
        if size > self.largest:
            self.largest = size
            pipe.hset(self.key, f"max:{pid}", size)
        pipe.execute()


if os.environ.get("PYPELINE_BENCH_MSG_STATS"):
    from celery.signals import before_task_publish

    _probe = _MessageProbe(os.environ["PYPELINE_BENCH_MSG_STATS"],
                           os.environ.get("PYPELINE_BENCH_MSG_KEY", MSG_STATS_KEY))
    before_task_publish.connect(_probe, weak=False)

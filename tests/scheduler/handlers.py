"""Handlers the scheduler tests schedule: each delivery is counted in a Redis hash, keyed by message id."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import redis

__all__ = ["count_fire", "count_run", "COUNTER_FIELD"]

#: Payload keys naming the Redis URL and the hash that counts deliveries.
COUNTER_FIELD = "counter"
REDIS_FIELD = "redis"


@lru_cache(maxsize=8)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def count_fire(event: dict[str, Any]) -> str:
    """A scheduled task: HINCRBY <counter> <task id> 1 (the task id is the fire's message id)."""
    _client(event[REDIS_FIELD]).hincrby(event[COUNTER_FIELD], event["task_id"], 1)
    return str(event["task_id"])


def count_run(event: dict[str, Any]) -> str:
    """A pipeline node: HINCRBY <counter> <run id> 1."""
    payload = event["chain_payload"]
    _client(payload[REDIS_FIELD]).hincrby(payload[COUNTER_FIELD], event["execution_id"], 1)
    return str(event["execution_id"])

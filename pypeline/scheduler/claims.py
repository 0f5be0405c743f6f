"""Claims for fires sent from memory while the store is unreachable: Redis SET NX on a Redis broker.

With the store down there is no database to compare-and-set against, so beats that all lost the
store claim each fire in Redis instead (when the broker is Redis): one of them sends it. With any
other broker each beat sends from memory on its own (at-least-once during the outage).
"""
from __future__ import annotations

import logging

import redis

__all__ = ["FireClaims", "CLAIM_TTL_SECONDS"]

log = logging.getLogger(__name__)

#: How long a fire claim key lives in Redis (longer than any store outage we expect to ride out).
CLAIM_TTL_SECONDS = 86_400
_PREFIX = "pypeline:beat:fire:"


class FireClaims:
    """Claim fires in Redis (when the broker is Redis); every claim succeeds otherwise."""

    def __init__(self, broker_url: str, owner: str) -> None:
        self.owner = owner
        self._client: redis.Redis | None = None
        if broker_url.startswith(("redis://", "rediss://", "unix://")):
            self._client = redis.Redis.from_url(broker_url, socket_timeout=2.0, socket_connect_timeout=2.0)

    @property
    def shared(self) -> bool:
        """True when claims are coordinated between beats (Redis broker)."""
        return self._client is not None

    def claim(self, message_id: str) -> bool:
        """True if this beat should send the fire `message_id` (it holds the claim)."""
        if self._client is None:
            return True
        key = _PREFIX + message_id
        try:
            if self._client.set(key, self.owner, nx=True, ex=CLAIM_TTL_SECONDS):
                return True
            return self._client.get(key) == self.owner.encode()  # ours from an attempt whose send failed
        except redis.RedisError as exc:
            # The broker is the same Redis: the send fails as well and is retried from memory.
            log.warning("could not claim fire %s in Redis: %s", message_id, exc)
            return True

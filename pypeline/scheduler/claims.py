"""Per-message claims in Redis (on a Redis broker): who sends a fire, and whether it was published.

The store's compare-and-set decides which beat owns a fire. These keys guard the two places where
that is not enough:

* with the store down there is no database to compare-and-set against, so beats that all lost the
  store claim each fire here instead (SET NX): one of them sends it;
* a fire is marked sent here right after it was published, in the broker's own Redis. A beat that
  re-sends a fire that still looks pending in the store (its beat died, stalled, or could not write
  "sent" back to a busy store) checks this mark first, so a published fire is never published again.

With any other broker every claim succeeds: re-sends and sends from memory are at-least-once there.
"""
from __future__ import annotations

import logging

import redis

__all__ = ["FireClaims", "CLAIM_TTL_SECONDS"]

log = logging.getLogger(__name__)

#: How long a fire claim key lives in Redis (longer than any store outage we expect to ride out).
CLAIM_TTL_SECONDS = 86_400
_PREFIX = "pypeline:beat:fire:"
_SENT = b"sent"


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

    def take_over(self, message_id: str) -> bool:
        """Claim a fire another beat claimed but never published; False when it was published."""
        if self._client is None:
            return True
        key = _PREFIX + message_id
        try:
            # One round trip, atomic with respect to the owner's mark_sent: take the key unless it says sent.
            previous = self._client.set(key, self.owner, ex=CLAIM_TTL_SECONDS, get=True)
            if previous == _SENT:
                self._client.set(key, _SENT, ex=CLAIM_TTL_SECONDS)
                return False
            return True
        except redis.RedisError as exc:
            log.warning("could not take over fire %s in Redis: %s", message_id, exc)
            return True

    def sent(self, message_id: str) -> bool:
        """True when the fire is marked published."""
        if self._client is None:
            return False
        try:
            return bool(self._client.get(_PREFIX + message_id) == _SENT)
        except redis.RedisError:
            return False

    def mark_sent(self, message_id: str) -> None:
        """Record that the fire was published (before the store hears of it)."""
        if self._client is None:
            return
        try:
            self._client.set(_PREFIX + message_id, _SENT, ex=CLAIM_TTL_SECONDS)
        except redis.RedisError as exc:
            log.warning("could not mark fire %s sent in Redis: %s", message_id, exc)

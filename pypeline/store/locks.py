"""Named leases in the store (`pypeline_locks`): at most one holder per name, fenced by expiry.

Acquiring or renewing is one guarded UPDATE (matches only when the caller already holds the lock or the
previous holder's lease expired), and an INSERT when the row does not exist yet; the primary key makes two
concurrent first INSERTs end with one winner. A holder that cannot renew in time must consider itself no
longer the holder once `expires_at` passed (`NamedLock.held` checks that locally, without a round trip).
"""
from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import Engine, insert, or_, update
from sqlalchemy.exc import IntegrityError

from pypeline.store.models import Lock, utcnow

__all__ = ["NamedLock"]

_LOCK = Lock.__table__


class NamedLock:
    """One named lease that a process tries to acquire and keeps renewing."""

    def __init__(self, engine: Engine, name: str, holder: str, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError("a lock's ttl must be > 0 seconds")
        self.engine, self.name, self.holder, self.ttl = engine, name, holder, ttl
        self._valid_until = float("-inf")  # monotonic time until which our last renewal is certainly valid

    def acquire(self) -> bool:
        """Take or renew the lock; True when this holder has it for the next `ttl` seconds."""
        started = time.monotonic()
        now = utcnow()
        expires = now + timedelta(seconds=self.ttl)
        with self.engine.begin() as conn:
            res = conn.execute(update(_LOCK).where(
                _LOCK.c.name == self.name, or_(_LOCK.c.holder == self.holder, _LOCK.c.expires_at < now),
            ).values(holder=self.holder, expires_at=expires))
            won = res.rowcount == 1
        if not won:
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(_LOCK).values(name=self.name, holder=self.holder, expires_at=expires,
                                                      acquired_at=now))
                won = True
            except IntegrityError:
                won = False
        # Count validity from before the round trip: the database may have applied it at any point during it.
        self._valid_until = started + self.ttl if won else float("-inf")
        return won

    @property
    def held(self) -> bool:
        """True while the last successful acquire is still within its ttl (checked locally)."""
        return time.monotonic() < self._valid_until

    def release(self) -> None:
        """Give the lock up at once (a successor need not wait for the expiry)."""
        self._valid_until = float("-inf")
        with self.engine.begin() as conn:
            conn.execute(update(_LOCK).where(_LOCK.c.name == self.name, _LOCK.c.holder == self.holder)
                         .values(expires_at=utcnow() - timedelta(seconds=1)))

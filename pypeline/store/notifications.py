"""Delivery attempts of run notifications: one row per webhook POST or handler call."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, insert, select

from pypeline.store.models import NotificationAttempt, utcnow

__all__ = ["record_attempt", "attempts_of"]

_ATTEMPT = NotificationAttempt.__table__


def record_attempt(engine: Engine, *, run_id: str, channel: str, target: str, event: str, attempt: int, ok: bool,
                   status_code: int | None = None, error: str | None = None) -> None:
    """Record one delivery attempt."""
    with engine.begin() as conn:
        conn.execute(insert(_ATTEMPT).values(run_id=run_id, channel=channel, target=target[:500], event=event,
                                             attempt=attempt, ok=ok, status_code=status_code,
                                             error=None if error is None else error[:4000], created_at=utcnow()))


def attempts_of(engine: Engine, run_id: str) -> list[dict[str, Any]]:
    """Every delivery attempt of a run's notifications, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(_ATTEMPT).where(_ATTEMPT.c.run_id == run_id).order_by(_ATTEMPT.c.id)).mappings()
        return [{**dict(r), "created_at": r["created_at"].isoformat()} for r in rows]

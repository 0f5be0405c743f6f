"""Captured node output: chunks appended per node attempt, read back in order (optionally after a cursor)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, insert, select

from pypeline.store.models import NodeLog, utcnow

__all__ = ["append_log", "read_logs"]

_LOG = NodeLog.__table__


def append_log(engine: Engine, run_id: str, node: str, instance: str, attempt: int, text: str) -> None:
    """Append a chunk of output to a node attempt's log."""
    with engine.begin() as conn:
        conn.execute(insert(_LOG).values(run_id=run_id, node=node, instance=instance, attempt=attempt, text=text,
                                         created_at=utcnow()))


def read_logs(
    engine: Engine,
    run_id: str,
    *,
    node: str | None = None,
    instance: str | None = None,
    attempt: int | None = None,
    after: int = 0,
    limit: int = 1000,
) -> tuple[list[dict[str, Any]], int]:
    """Chunks of a run's logs with id > `after`, merged per consecutive node attempt; returns (items, cursor)."""
    cond = [_LOG.c.run_id == run_id, _LOG.c.id > after]
    if node is not None:
        cond.append(_LOG.c.node == node)
    if instance is not None:
        cond.append(_LOG.c.instance == instance)
    if attempt is not None:
        cond.append(_LOG.c.attempt == attempt)
    with engine.connect() as conn:
        rows = conn.execute(select(_LOG.c.id, _LOG.c.node, _LOG.c.instance, _LOG.c.attempt, _LOG.c.text)
                            .where(*cond).order_by(_LOG.c.id).limit(limit)).all()
    items: list[dict[str, Any]] = []
    cursor = after
    for row in rows:
        cursor = row.id
        last = items[-1] if items else None
        if last is not None and (last["node"], last["instance"], last["attempt"]) == (row.node, row.instance,
                                                                                     row.attempt):
            last["text"] += row.text
        else:
            items.append({"node": row.node, "instance": row.instance, "attempt": row.attempt, "text": row.text})
    return items, cursor

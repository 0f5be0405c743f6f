"""Row helpers of the run store: JSON-ready dicts of run and node rows, result summaries, batching."""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pypeline.formats import iso_utc
from pypeline.status import TERMINAL, Status

__all__ = ["Pair", "CHUNK", "summarize", "run_record", "node_record", "chunks", "by_instance"]

#: (node, instance): one row of a run.
Pair = tuple[str, str]
#: Bound parameters per IN (...) clause; far below SQLite's and PostgreSQL's limits.
CHUNK = 500

_RUN_TIMES = ("created_at", "started_at", "finished_at", "updated_at")
_NODE_TIMES = ("created_at", "started_at", "finished_at", "updated_at", "lease_expires_at")


def summarize(value: Any, limit: int = 200) -> str:
    """A short, human-readable JSON rendering of a result for lists and dashboards."""
    try:
        text = json.dumps(value, default=str, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_record(row: Any) -> dict[str, Any]:
    """A runs-table row as the JSON-ready dict every face shows."""
    data = dict(row)
    for key in _RUN_TIMES:
        data[key] = iso_utc(data[key])
    status = Status(data["status"])
    data["status"] = status.value
    data["terminal"] = status in TERMINAL
    return data


def node_record(row: Any) -> dict[str, Any]:
    """A node-runs-table row as a JSON-ready dict, with its duration in seconds."""
    data = dict(row)
    started, finished = data.get("started_at"), data.get("finished_at")
    data["duration"] = (finished - started).total_seconds() if started and finished else None
    for key in _NODE_TIMES:
        data[key] = iso_utc(data[key])
    return data


def chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """`items` in slices of at most CHUNK (one IN (...) clause each)."""
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def by_instance(pairs: Iterable[Pair]) -> dict[str, list[str]]:
    """(node, instance) pairs grouped as instance -> nodes, in first-seen order."""
    out: dict[str, list[str]] = {}
    for node, instance in pairs:
        out.setdefault(instance, []).append(node)
    return out

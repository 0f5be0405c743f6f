"""Search runs (pipeline, status, origin, tags, creation time) and add tags, log links and notifications to runs."""
from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from pypeline.errors import InvalidInputError
from pypeline.runtime import Runtime
from pypeline.status import Status
from pypeline.store.notifications import attempts_of
from pypeline.store.search import RunFilter, search_runs
from pypeline.store.tags import TAG_PATTERN, tags_of

__all__ = ["run_filter", "search", "decorate_run", "parse_time"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_time(value: str | datetime | None, what: str) -> datetime | None:
    """An ISO 8601 time (naive means UTC) as an aware datetime; InvalidInputError when malformed."""
    if value is None or isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(f"{what} must be an ISO 8601 date or time, got {value!r}") from None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def _statuses(status: str | Sequence[str] | None) -> tuple[Status, ...]:
    values = [status] if isinstance(status, str) else list(status or ())
    out = []
    for value in values:
        try:
            out.append(Status(value.upper()))
        except ValueError:
            raise InvalidInputError(f"unknown status {value!r}; one of {[s.value for s in Status]}") from None
    return tuple(out)


def run_filter(
    *,
    pipeline_id: str | None = None,
    status: str | Sequence[str] | None = None,
    origin: str | None = None,
    origin_prefix: str | None = None,
    tags: Sequence[str] = (),
    created_after: str | datetime | None = None,
    created_before: str | datetime | None = None,
) -> RunFilter:
    """Validate filter values into a RunFilter; InvalidInputError names the bad one (nothing is ignored)."""
    for tag in tags:
        if not TAG_PATTERN.match(tag):
            raise InvalidInputError(f"invalid tag {tag!r}: 1-100 characters of letters, digits and _ . : / = -")
    for name, value in (("pipeline_id", pipeline_id), ("origin", origin), ("origin_prefix", origin_prefix)):
        if value is not None and (not 1 <= len(value) <= 200 or _CONTROL.search(value)):
            raise InvalidInputError(f"{name} must be 1-200 characters, none of them a control character")
    after, before = parse_time(created_after, "created_after"), parse_time(created_before, "created_before")
    if after is not None and before is not None and after >= before:
        raise InvalidInputError("created_after must be earlier than created_before")
    return RunFilter(pipeline_id=pipeline_id, statuses=_statuses(status), origin=origin, origin_prefix=origin_prefix,
                     tags=tuple(tags), created_after=after, created_before=before)


def search(runtime: Runtime, *, limit: int = 50, offset: int = 0, **filters: Any) -> tuple[list[dict[str, Any]], int]:
    """A page of runs matching every filter, newest first, and the total count."""
    if not 1 <= limit <= 500:
        raise InvalidInputError("limit must be between 1 and 500")
    if not 0 <= offset <= 10_000_000:
        raise InvalidInputError("offset must be between 0 and 10000000")
    return search_runs(runtime.store.engine, run_filter(**filters), limit=limit, offset=offset)


def decorate_run(runtime: Runtime, run: dict[str, Any]) -> dict[str, Any]:
    """Add `tags`, `notifications` and, on each node, `logs` (the API path of its captured output)."""
    run["tags"] = tags_of(runtime.store.engine, [run["id"]])[run["id"]]
    run["notifications"] = attempts_of(runtime.store.engine, run["id"])
    for node in run.get("nodes", ()):
        node["logs"] = f"/api/v1/runs/{run['id']}/logs?node={node['node']}" + (
            f"&instance={node['instance']}" if node["instance"] else "")
    return run

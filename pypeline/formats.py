"""One helper per formatting rule shared by every layer: UTC timestamps, JSON size limits, snake_case keys.

Only the standard library and `pypeline.errors` are imported, so config, store, engines, services and
the faces can all use these helpers without an upward import.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from pypeline.errors import InvalidInputError, PypelineError

__all__ = ["utc", "iso_utc", "json_size", "check_json_size", "snake_case"]

_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


def utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime (naive values are taken to be UTC, as SQLite hands them back)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with its `+00:00` offset, or None for None: how every face shows a timestamp."""
    return None if value is None else utc(value).isoformat()


def json_size(value: Any, *, allow_nan: bool = True) -> int:
    """Bytes of `value` as compact-ish JSON (`json.dumps` defaults); raises TypeError/ValueError if not JSON."""
    # ensure_ascii (the default) makes the text pure ASCII, so its length is its size in bytes.
    return len(json.dumps(value, allow_nan=allow_nan))


def check_json_size(
    value: Any,
    limit: int,
    *,
    what: str = "payload",
    error: type[PypelineError] = InvalidInputError,
    allow_nan: bool = True,
) -> int:
    """The JSON size of `value` in bytes; raises `error` when it is not JSON or over `limit` bytes."""
    try:
        size = json_size(value, allow_nan=allow_nan)
    except (TypeError, ValueError) as exc:
        detail = "NaN and Infinity are not JSON" if "Out of range float" in str(exc) else str(exc)
        raise error(f"{what} is not JSON-serialisable: {detail}") from exc
    if size > limit:
        raise error(f"{what} is {size} bytes, over the {limit}-byte limit")
    return size


def snake_case(key: str) -> str:
    """`endpointUrl` -> `endpoint_url` (YAML camelCase keys to Python keywords)."""
    return _CAMEL_BOUNDARY.sub("_", key).lower()

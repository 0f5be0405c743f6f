"""Strict parsing of request bodies and checks of ids and query values, before any view or store sees them."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pypeline.errors import InvalidInputError

__all__ = ["MAX_JSON_DEPTH", "MAX_INTEGER_DIGITS", "MAX_ID_LENGTH", "MAX_QUERY_VALUE_LENGTH", "parse_strict_json",
           "check_json_value", "bad_text", "bad_id", "bad_query", "CONTROL_CHARACTERS"]

#: Deepest nesting of arrays/objects accepted in a body (real payloads are far shallower).
MAX_JSON_DEPTH = 64
#: Most digits of a JSON integer (a 64-bit integer has 19-20).
MAX_INTEGER_DIGITS = 50
#: Longest path id (run, schedule, batch run, pipeline) worth a store lookup.
MAX_ID_LENGTH = 256
#: Longest query value read (a request line is capped at 4094 bytes under gunicorn anyway).
MAX_QUERY_VALUE_LENGTH = 2000
#: C0 control characters and DEL: never part of an id, a name or a query value.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def _refuse_constant(name: str) -> Any:
    raise InvalidInputError(f"invalid JSON body: {name} is not valid JSON (use null or a string)")


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise InvalidInputError(f"invalid JSON body: an integer of {digits} digits (at most {MAX_INTEGER_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > 400:  # float() of a very long literal is slow and nothing real needs it
        raise InvalidInputError("invalid JSON body: a number literal longer than 400 characters")
    value = float(text)
    if not math.isfinite(value):
        raise InvalidInputError(f"invalid JSON body: {text[:40]} is out of range of a 64-bit float")
    return value


def check_json_value(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise InvalidInputError when a decoded value nests deeper than `max_depth` or holds a NUL character."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise InvalidInputError("invalid JSON body: strings may not contain NUL (\\u0000)")
            continue
        if isinstance(item, Mapping):
            children: list[Any] = [*item.keys(), *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise InvalidInputError(f"invalid JSON body: nested deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children)


def parse_strict_json(data: bytes | str) -> Any:
    """Decode a JSON body: no NaN/Infinity, bounded integers and depth, no NUL; raises InvalidInputError."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"invalid JSON body: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int, parse_float=_parse_float)
    except InvalidInputError:
        raise
    except RecursionError:
        raise InvalidInputError(f"invalid JSON body: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"invalid JSON body: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:  # int() beyond the interpreter's digit limit, should the cap above be raised
        raise InvalidInputError(f"invalid JSON body: {exc}") from None
    check_json_value(value)
    return value


def bad_text(value: str, *, max_length: int | None = None) -> str | None:
    """Why `value` is not acceptable as an id or query value (control characters, length), or None."""
    if CONTROL_CHARACTERS.search(value):
        return "must not contain control characters"
    if max_length is not None and len(value) > max_length:
        return f"longer than {max_length} characters"
    return None


def bad_id(view_args: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """(name, reason) of the first path id that cannot name anything (control characters, too long), or None."""
    for name, value in (view_args or {}).items():
        if isinstance(value, str) and (reason := bad_text(value, max_length=MAX_ID_LENGTH)):
            return name, reason
    return None


def bad_query(items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Query parameters whose name or value holds control characters (or is absurdly long), with the reason."""
    return {key: [reason] for key, value in items
            if (reason := bad_text(key) or bad_text(value, max_length=MAX_QUERY_VALUE_LENGTH))}

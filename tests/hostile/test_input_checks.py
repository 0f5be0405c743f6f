"""The strict JSON parser and id/query checks at their exact limits."""
from __future__ import annotations

import json

import pytest

from pypeline.errors import InvalidInputError
from pypeline.http.input_checks import (
    MAX_ID_LENGTH,
    MAX_INTEGER_DIGITS,
    MAX_JSON_DEPTH,
    bad_id,
    bad_query,
    parse_strict_json,
)

pytestmark = pytest.mark.hostile


@pytest.mark.parametrize("text", [
    "null", "0", "-0", "1.5e300", "-1.5e-300", '"caf\\u00e9 \\ud83d\\ude00"', '{"a": [1, {"b": null}]}',
    "9" * MAX_INTEGER_DIGITS, "-" + "9" * MAX_INTEGER_DIGITS,
    "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH,
    '{"a": ' * (MAX_JSON_DEPTH - 1) + "{}" + "}" * (MAX_JSON_DEPTH - 1),
])
def test_legitimate_json_parses_like_json_loads(text: str) -> None:
    assert parse_strict_json(text.encode()) == json.loads(text)


@pytest.mark.parametrize(("text", "reason"), [
    ("NaN", "NaN"), ("[Infinity]", "Infinity"), ('{"a": -Infinity}', "-Infinity"), ("1e400", "out of range"),
    ("9" * (MAX_INTEGER_DIGITS + 1), "digits"), ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "deeper"),
    ("[" * 100_000, "deeper"), ('"\\u0000"', "NUL"), ('{"\\u0000": 1}', "NUL"), ("[1,]", "line 1"),
    ("0." + "1" * 500, "longer"),
])
def test_hostile_json_is_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid JSON body") as caught:
        parse_strict_json(text.encode())
    assert reason in str(caught.value)


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        parse_strict_json(b'{"a": "\xff"}')


def test_ids_and_query_values() -> None:
    assert bad_id({"run_id": "4f1c-ok", "n": 3}) is None
    assert bad_id({"run_id": "x" * MAX_ID_LENGTH}) is None
    assert bad_id({"run_id": "x" * (MAX_ID_LENGTH + 1)}) == ("run_id", f"longer than {MAX_ID_LENGTH} characters")
    assert bad_id({"run_id": "a\x00b"}) == ("run_id", "must not contain control characters")
    assert bad_query([("pipeline_id", "demo"), ("status", "é ü")]) == {}
    assert set(bad_query([("pipeline_id", "\x00"), ("ok", "1"), ("x\x1b", "1"), ("s", "\x7f")])) == {
        "pipeline_id", "x\x1b", "s"}

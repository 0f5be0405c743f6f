"""The shared formatting rules: UTC timestamps, JSON size limits, snake_case keys (pypeline.formats)."""
from __future__ import annotations

import ast
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pypeline.errors import InvalidInputError, NodeResultError
from pypeline.formats import check_json_size, iso_utc, json_size, snake_case, utc

PKG = Path(__file__).resolve().parent.parent / "pypeline"


def test_iso_utc_reads_naive_values_as_utc_and_converts_aware_ones() -> None:
    naive = datetime(2026, 3, 29, 1, 30, 0, 120)
    assert iso_utc(naive) == "2026-03-29T01:30:00.000120+00:00"
    paris = datetime(2026, 3, 29, 3, 30, tzinfo=timezone(timedelta(hours=2)))
    assert iso_utc(paris) == "2026-03-29T01:30:00+00:00"
    assert iso_utc(None) is None
    assert utc(naive).tzinfo is timezone.utc and utc(paris) == paris


def test_json_size_counts_bytes_of_non_ascii_text() -> None:
    assert json_size({"a": 1}) == len(b'{"a": 1}')
    assert json_size("é") == len('"\\u00e9"')  # escaped, so the length is the byte count
    assert check_json_size([1, 2], 100) == json_size([1, 2])


def test_check_json_size_names_what_was_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"^payload is 12 bytes, over the 5-byte limit$"):
        check_json_size("x" * 10, 5)
    with pytest.raises(InvalidInputError, match="^event data is not JSON-serialisable"):
        check_json_size({"x": object()}, 100, what="event data")
    check_json_size(math.nan, 100)  # plain json.dumps writes NaN; only strict checks refuse it
    with pytest.raises(NodeResultError, match="^node result is not JSON-serialisable: NaN and Infinity are not JSON$"):
        check_json_size({"x": math.inf}, 100, what="node result", error=NodeResultError, allow_nan=False)


@pytest.mark.parametrize(("key", "expected"), [("endpointUrl", "endpoint_url"), ("maxTtl", "max_ttl"),
                                               ("chunk_size", "chunk_size"), ("URL", "u_r_l"), ("", "")])
def test_snake_case(key: str, expected: str) -> None:
    assert snake_case(key) == expected


def test_each_rule_has_one_implementation() -> None:
    """No module re-implements a rule of pypeline.formats under a private name."""
    copies = []
    for path in PKG.rglob("*.py"):
        if path.name == "formats.py" and path.parent == PKG:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name in {"_iso", "iso_utc", "utc", "_snake", "snake_case",
                                                                   "_json_size", "json_size", "check_json_size"}:
                copies.append(f"{path.relative_to(PKG.parent)}:{node.lineno} {node.name}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len" \
                    and node.args and "json.dumps(" in ast.unparse(node.args[0]):
                copies.append(f"{path.relative_to(PKG.parent)}:{node.lineno} len(json.dumps(...))")
    assert copies == []

"""Generic checks of config mappings: a Field per key, a Table per mapping kind, and the Reporter collecting issues."""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pypeline.config import codes
from pypeline.config.codes import ErrorCode
from pypeline.config.yaml_source import SourceMap, join_path
from pypeline.errors import ConfigIssue
from pypeline.formats import snake_case

__all__ = [
    "Kind",
    "Field",
    "Table",
    "Reporter",
    "check_mapping",
    "check_value",
    "describe",
    "closest",
    "did_you_mean",
    "hint",
    "snake_case",
]

Kind = Literal["str", "int", "number", "bool", "mapping", "list", "any", "cron", "timestamp", "strings"]


@dataclass(frozen=True)
class Field:
    """How one key's value is checked: its kind, whether it is required, its default and its bounds."""

    kind: Kind
    required: bool = False
    default: Any = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    pattern_hint: str = ""
    allow_empty: bool = False
    #: One-line description, shown by editors on hover (through the generated JSON Schema).
    doc: str = ""


@dataclass(frozen=True)
class Table:
    """The keys allowed in one kind of mapping of the file; `ignored` keys are accepted and dropped."""

    where: str
    fields: dict[str, Field]
    ignored: frozenset[str] = frozenset()


@dataclass
class Reporter:
    """Collects ConfigIssues, located through the file's SourceMap."""

    source: SourceMap
    issues: list[ConfigIssue] = field(default_factory=list)

    def error(
        self, path: str, message: str, *, code: ErrorCode, key: bool = False, suggestion: str | None = None
    ) -> None:
        """Record an issue with its stable code at `path` (at its key when `key`, else at its value)."""
        self.issues.append(self.source.issue(message, path, key=key, code=code, suggestion=suggestion))


def describe(value: Any) -> str:
    """Short human description of a YAML value for 'got ...' messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ('{shown}')"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (datetime, date)):
        return f"a timestamp ({value.isoformat()})"
    return f"a {type(value).__name__}"


def closest(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The candidate closest to `word` (case-sensitive first, then ignoring case), or None."""
    pool = sorted(candidates)
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=cutoff)
    if matches:
        return matches[0]
    lowered = {c.lower(): c for c in pool}
    matches = difflib.get_close_matches(word.lower(), sorted(lowered), n=1, cutoff=cutoff)
    return lowered[matches[0]] if matches else None


def did_you_mean(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str:
    """'; did you mean 'x'?' for the closest candidate, or '' when nothing is close."""
    return hint(word, candidates, cutoff=cutoff)[0]


def hint(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> tuple[str, str | None]:
    """('; did you mean 'x'?', 'x') for the closest candidate, or ('', None) when nothing is close."""
    match = closest(word, candidates, cutoff=cutoff)
    return (f"; did you mean '{match}'?", match) if match else ("", None)


def _expected(spec: Field) -> str:
    base = {
        "str": "a string",
        "int": "an integer",
        "number": "a number",
        "bool": "a boolean (true/false)",
        "mapping": "a mapping",
        "list": "a list",
        "any": "a value",
        "cron": "a crontab field string",
        "timestamp": "a timestamp",
        "strings": "a string or a list of strings",
    }[spec.kind]
    bounds = []
    if spec.gt is not None:
        bounds.append(f"> {spec.gt:g}")
    if spec.ge is not None:
        bounds.append(f">= {spec.ge:g}")
    if spec.le is not None:
        bounds.append(f"<= {spec.le:g}")
    if bounds:
        base += " " + " and ".join(bounds)
    if spec.choices:
        base = "one of " + ", ".join(f"'{c}'" for c in spec.choices)
    return base


def _kind_ok(value: Any, kind: Kind) -> bool:
    if kind == "any":
        return True
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "mapping":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "cron":
        return isinstance(value, (str, int)) and not isinstance(value, bool)
    if kind == "timestamp":
        return isinstance(value, (str, datetime, date))
    if kind == "strings":
        return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    raise AssertionError(kind)


def check_value(value: Any, spec: Field, path: str, name: str, rep: Reporter) -> tuple[bool, Any]:
    """Check one value against its Field; returns (ok, normalised value) and reports what was expected."""
    if not _kind_ok(value, spec.kind):
        # a block list/mapping starts on the line after its key: point at the key instead
        at_key = isinstance(value, (list, dict))
        rep.error(path, f"'{name}' must be {_expected(spec)}, got {describe(value)}", key=at_key,
                  code=codes.WRONG_TYPE)
        return False, None
    if spec.kind == "cron":
        value = str(value).strip()
    elif isinstance(value, str):
        value = value.strip()
        if not value and not spec.allow_empty:
            rep.error(path, f"'{name}' must be a non-empty string", code=codes.EMPTY_VALUE)
            return False, None
    if spec.choices is not None and value not in spec.choices:
        text, match = hint(value, spec.choices) if isinstance(value, str) else ("", None)
        rep.error(path, f"'{name}' must be {_expected(spec)}, got {describe(value)}{text}", code=codes.INVALID_CHOICE,
                  suggestion=match)
        return False, None
    if spec.kind in ("int", "number"):
        too_small = (spec.gt is not None and value <= spec.gt) or (spec.ge is not None and value < spec.ge)
        if too_small or (spec.le is not None and value > spec.le):
            rep.error(path, f"'{name}' must be {_expected(spec)}, got {value}", code=codes.OUT_OF_RANGE)
            return False, None
    if spec.pattern is not None and not re.match(spec.pattern, value):
        rep.error(path, f"'{name}' must be {spec.pattern_hint or 'matching ' + spec.pattern}, got {describe(value)}",
                  code=codes.BAD_FORMAT)
        return False, None
    return True, value


def check_mapping(value: Any, table: Table, path: str, rep: Reporter) -> dict[str, Any] | None:
    """Check a mapping against a Table: unknown keys (with suggestions), missing keys, each value's type.

    Returns the known keys with normalised values and defaults filled in (invalid values left out), or None
    when `value` is not a mapping at all. A null `value` counts as an empty mapping.
    """
    if value is None:
        value = {}
    if not isinstance(value, dict):
        rep.error(path, f"{table.where} must be a mapping, got {describe(value)}", code=codes.WRONG_TYPE)
        return None
    out: dict[str, Any] = {}
    suggested: set[str] = set()  # a misspelt required key is reported once, as unknown, not also as missing
    for key, item in value.items():
        key_path = join_path(path, key)
        if key_path in rep.source.failed:
            continue
        spec = table.fields.get(key) if isinstance(key, str) else None
        if spec is None:
            if key in table.ignored:
                continue
            match = closest(str(key), table.fields)
            if match is not None:
                suggested.add(match)
            rep.error(key_path, f"unknown key '{key}' in {table.where}{_suggest(str(key), table)}", key=True,
                      code=codes.UNKNOWN_KEY, suggestion=match)
            continue
        if item is None and not spec.required:
            continue
        ok, normalised = check_value(item, spec, key_path, key, rep)
        if ok:
            out[key] = normalised
    for key, spec in table.fields.items():
        key_path = join_path(path, key)
        if key in out or key_path in rep.source.failed or key in suggested:
            continue
        if spec.required:
            if key not in value:
                rep.error(path, f"missing required key '{key}' in {table.where}", key=True, code=codes.MISSING_KEY)
            elif value[key] is None:
                rep.error(key_path, f"'{key}' has no value; expected {_expected(spec)}", code=codes.EMPTY_VALUE)
        elif spec.default is not None and value.get(key) is None:
            out[key] = spec.default
    return out


def _suggest(key: str, table: Table) -> str:
    hint = did_you_mean(key, table.fields)
    if hint:
        return hint
    return "; expected one of: " + ", ".join(sorted(table.fields))

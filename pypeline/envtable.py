"""The machinery of a settings table: declare dataclass fields read from env vars, parse them, render docs.

`pypeline.settings` declares every setting with `setting(...)`; `rows_of(Settings)` turns those declarations
into `Setting` rows that `Settings.from_env`, `pypeline settings` and README's table all read.
"""
from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from pypeline.errors import InvalidInputError

__all__ = ["setting", "Setting", "rows_of", "rows_markdown", "format_value", "TRUE_WORDS", "FALSE_WORDS"]

#: Words an env var may use for true and for false (any case).
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
_META = "pypeline.setting"
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Declared:
    env: str
    doc: str
    unit: str
    fallbacks: tuple[str, ...]
    shown_default: str | None
    choices: tuple[str, ...]
    secret: bool


def setting(
    env: str,
    default: _T,
    doc: str,
    *,
    unit: str = "",
    fallbacks: tuple[str, ...] = (),
    shown_default: str | None = None,
    choices: tuple[str, ...] = (),
    secret: bool = False,
) -> _T:
    """Declare a `Settings` field as a setting read from `env` (then `fallbacks`), else `default`.

    `unit` is shown in docs ("s", "bytes", ...); `shown_default` replaces the default in docs when the real
    default is computed at run time; `choices` are the accepted (lower-case) values; `secret` hides the value
    in `pypeline settings`.
    """
    declared = _Declared(env, doc, unit, fallbacks, shown_default, choices, secret)
    return field(default=default, metadata={_META: declared})


@dataclass(frozen=True)
class Setting:
    """One row of the settings table: a `Settings` field, the env vars it is read from, its default and doc."""

    name: str
    env: str
    type: type
    optional: bool
    default: Any
    unit: str
    doc: str
    fallbacks: tuple[str, ...] = ()
    shown_default: str | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False

    @property
    def variables(self) -> tuple[str, ...]:
        """The env vars read, in order of precedence."""
        return (self.env, *self.fallbacks)

    def source(self, environ: Mapping[str, str]) -> str | None:
        """The first of `variables` set to a non-empty value, or None (the default applies)."""
        return next((var for var in self.variables if environ.get(var, "") != ""), None)

    def read(self, environ: Mapping[str, str]) -> Any:
        """The value from `environ`, else the default; raises InvalidInputError naming the variable."""
        var = self.source(environ)
        return self.default if var is None else self.parse(environ[var], var)

    def parse(self, raw: str, var: str | None = None) -> Any:
        """Convert the text of an env var to this setting's type."""
        name = var or self.env
        if self.type is bool:
            word = raw.strip().lower()
            if word not in TRUE_WORDS + FALSE_WORDS:
                raise InvalidInputError(f"{name} must be one of {', '.join(TRUE_WORDS + FALSE_WORDS)}, got {raw!r}")
            return word in TRUE_WORDS
        if self.type in (int, float):
            try:
                return self.type(raw)
            except ValueError:
                kind = "an integer" if self.type is int else "a number"
                raise InvalidInputError(f"{name} must be {kind}{_unit_suffix(self.unit)}, got {raw!r}") from None
        if self.type is Path:
            return Path(raw)
        if self.choices:
            word = raw.strip().lower()
            if word not in self.choices:
                raise InvalidInputError(f"{name} must be one of {', '.join(self.choices)}, got {raw!r}")
            return word
        return raw

    @property
    def default_text(self) -> str:
        """The default as docs show it."""
        if self.shown_default is not None:
            return self.shown_default
        return format_value(self.default)

    @property
    def description(self) -> str:
        """The doc line plus the fallback variables, as docs show it."""
        if not self.fallbacks:
            return self.doc
        return f"{self.doc} Falls back to {', then '.join(f'`{v}`' for v in self.fallbacks)}."


def _unit_suffix(unit: str) -> str:
    return f" ({unit})" if unit else ""


def format_value(value: Any) -> str:
    """A setting value as docs and `pypeline settings` show it (None as a dash, bools lower-case, 30.0 as 30)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def rows_of(cls: type) -> tuple[Setting, ...]:
    """The `Setting` rows of a dataclass whose fields were declared with `setting(...)`, in declaration order."""
    hints = typing.get_type_hints(cls)
    rows = []
    for spec in fields(cls):
        declared = spec.metadata.get(_META)
        if declared is None:
            continue  # derived state, not read from the environment
        members = typing.get_args(hints[spec.name]) or (hints[spec.name],)
        kind = next(t for t in members if t is not type(None))
        rows.append(Setting(name=spec.name, env=declared.env, type=kind, optional=type(None) in members,
                            default=spec.default, unit=declared.unit, doc=declared.doc, fallbacks=declared.fallbacks,
                            shown_default=declared.shown_default, choices=declared.choices, secret=declared.secret))
    return tuple(rows)


def rows_markdown(rows: tuple[Setting, ...]) -> str:
    """A Markdown table of `rows`: variable, default, unit, meaning."""
    lines = ["| variable | default | unit | meaning |", "|---|---|---|---|"]
    for row in rows:
        default = row.default_text
        if row.shown_default is None and row.default is not None:
            default = f"`{default}`"
        lines.append(f"| `{row.env}` | {default} | {row.unit} | {row.description} |")
    return "\n".join(lines) + "\n"

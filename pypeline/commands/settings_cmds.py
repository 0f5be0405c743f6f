"""`pypeline settings`: every PYPELINE_* setting with its effective value, where it came from, unit and meaning."""
from __future__ import annotations

import os
import re
from typing import Any

import click

from pypeline.commands.common import console, echo_json, handle_errors
from pypeline.settings import SETTINGS, Setting, format_value, settings_markdown

__all__ = ["settings", "setting_rows"]

_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@/]*@")


def _shown(row: Setting, value: Any, source: str | None) -> Any:
    """The value as it may be printed: secrets hidden, URL passwords masked, paths as text."""
    if value is None:
        return None
    if row.secret and source is not None:
        return _URL_PASSWORD.sub(r"\1***@", value) if "://" in str(value) else "***"
    return str(value) if row.type is not bool and not isinstance(value, int | float) else value


def setting_rows() -> list[dict[str, Any]]:
    """One JSON-ready dict per setting: env var, effective value (secrets masked), source, default, unit, doc."""
    rows = []
    for row in SETTINGS:
        source = row.source(os.environ)
        value = row.read(os.environ)
        rows.append({"name": row.name, "variable": row.env, "value": _shown(row, value, source),
                     "source": source or "default", "default": row.default_text, "unit": row.unit,
                     "meaning": row.description})
    return rows


@click.command()
@click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="markdown prints README's settings table (generated from the same rows).")
@handle_errors
def settings(output_format: str) -> None:
    """List every PYPELINE_* setting with its effective value, source, default, unit and meaning."""
    if output_format == "markdown":
        click.echo(settings_markdown(), nl=False)
        return
    rows = setting_rows()
    if output_format == "json":
        echo_json(rows)
        return
    from rich.table import Table

    table = Table("variable", "value", "source", "unit", "meaning", show_lines=False)
    for row in rows:
        value = row["default"] if row["value"] is None else format_value(row["value"])
        table.add_row(row["variable"], value, row["source"], row["unit"], row["meaning"])
    console.print(table)

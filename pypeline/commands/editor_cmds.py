"""`pypeline schema` and `pypeline fmt`: support for editing config files."""
from __future__ import annotations

import sys

import click

from pypeline.commands.common import console, handle_errors
from pypeline.config import codes
from pypeline.config.fmt import format_text, unified_diff
from pypeline.config.json_schema import render_schema
from pypeline.errors import ConfigError, ConfigIssue

__all__ = ["schema", "fmt"]


@click.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None, metavar="FILE",
              help="Write the schema to FILE instead of stdout.")
def schema(output: str | None) -> None:
    """Print the config's JSON Schema (draft 2020-12) for editors: completion, hover help, checks."""
    text = render_schema()
    if output is None:
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--check", is_flag=True, help="Change nothing; print a diff and exit 1 if a file is not formatted.")
@handle_errors
def fmt(files: tuple[str, ...], check: bool) -> None:
    """Normalise key order and indentation of config files, keeping comments."""
    unformatted = 0
    for path in files:
        try:
            with open(path, encoding="utf-8") as handle:
                before = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([ConfigIssue(f"cannot read: {exc}", file=path, code=codes.FILE_UNREADABLE.id)]) from None
        after = format_text(before, path)
        if after == before:
            continue
        unformatted += 1
        if check:
            click.echo(unified_diff(before, after, path), nl=False)
        else:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(after)
            console.print(f"formatted {path}", highlight=False, markup=False)
    if check and unformatted:
        console.print(f"{unformatted} file(s) would be reformatted", highlight=False, style="red")
        sys.exit(1)

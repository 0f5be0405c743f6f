"""Helpers shared by CLI commands: building a runtime from flags, printing JSON and errors."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pypeline.commands.output import PipeConsole
from pypeline.errors import ConfigError, PypelineError
from pypeline.settings import Settings, get_settings

if TYPE_CHECKING:  # the runtime (Celery, SQLAlchemy) is imported only by commands that build one
    from pypeline.runtime import Runtime

__all__ = ["console", "err_console", "build_runtime", "build_settings", "handle_errors", "echo_json", "config_option",
           "database_option", "broker_option", "parse_json_arg", "print_config_error"]

console = PipeConsole(soft_wrap=True)  # whole ids when piped (see pypeline.commands.output)
err_console = PipeConsole(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])

broker_option = click.option("--broker", "broker", default=None, metavar="URL",
                             help="Celery broker (default PYPELINE_BROKER_URL, else embedded).")
database_option = click.option("--database", "database", default=None, metavar="URL",
                               help="Run store SQLAlchemy URL (default PYPELINE_DATABASE_URL, else SQLite).")
config_option = click.option("--config", "config_path", default=None, metavar="FILE", envvar="PYPELINE_CONFIG",
                             help="Config file (default PYPELINE_CONFIG).")


def build_settings(config_path: str | None = None, broker: str | None = None, database: str | None = None) -> Settings:
    """Settings from the environment with CLI flags on top."""
    return get_settings().with_overrides(config_path=config_path, broker_url=broker, database_url=database)


def build_runtime(
    config_path: str | None,
    broker: str | None = None,
    database: str | None = None,
    **kwargs: Any,
) -> Runtime:
    """A runtime for a config file (or PYPELINE_CONFIG) with CLI overrides."""
    from pypeline.runtime import Runtime

    settings = build_settings(config_path, broker, database)
    if settings.config_path is None:
        raise PypelineError("no config file: pass FILE/--config or set PYPELINE_CONFIG")
    return Runtime.from_path(settings.config_path, settings, **kwargs)


def handle_errors(fn: F) -> F:
    """Turn Pypeline errors into a clear message and exit code 1 (never a traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            print_config_error(exc)
            sys.exit(1)
        except PypelineError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def print_config_error(exc: ConfigError) -> None:
    """Every issue of a config error on stderr, one per line."""
    err_console.print(f"[bold red]{len(exc.issues)} config error(s):[/]")
    for issue in exc.issues:
        err_console.print(f"  {issue}", markup=False, highlight=False)


def echo_json(value: Any) -> None:
    """Print JSON to stdout (machine-readable, no colours)."""
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def parse_json_arg(value: str | None, what: str = "payload") -> Any:
    """Parse a JSON argument, or `@path` to read it from a file."""
    from pypeline.errors import InvalidInputError

    if value is None:
        return None
    text = value
    if value.startswith("@"):
        try:
            with open(value[1:], encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise InvalidInputError(f"cannot read {what} file {value[1:]!r}: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{what} is not valid JSON: {exc}") from exc

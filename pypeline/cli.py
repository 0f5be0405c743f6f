"""The `pypeline` command line: one root group; each command group lives in `pypeline.commands`."""
from __future__ import annotations

import importlib
import logging
import os
import sys

import click

from pypeline import __version__
from pypeline.commands.config_cmds import graph, validate
from pypeline.commands.editor_cmds import fmt, schema
from pypeline.commands.run_cmds import run, worker
from pypeline.commands.runs_cmds import runs

__all__ = ["cli", "main"]

#: Optional command groups added by later layers: (module, attribute).
_OPTIONAL = [
    ("pypeline.commands.schedule_cmds", "schedules"),
    ("pypeline.commands.schedule_cmds", "beat"),
    ("pypeline.commands.batch_cmds", "batch"),
    ("pypeline.commands.api_cmds", "api"),
    ("pypeline.commands.api_cmds", "keys"),
]


@click.group()
@click.version_option(__version__, prog_name="pypeline")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def cli(verbose: bool) -> None:
    """Pypeline: run sermos.yaml pipelines on Celery."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)  # "No hostname was supplied" for embedded
    # Like `celery -A`, let handlers in the current project folder import without installing it.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


for command in (validate, graph, schema, fmt, run, worker, runs):
    cli.add_command(command)

for module_name, attr in _OPTIONAL:
    try:
        cli.add_command(getattr(importlib.import_module(module_name), attr))
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="pypeline")

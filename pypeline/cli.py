"""The `pypeline` command line: one root group whose commands are imported only when they run.

Start-up time is what a user feels on every command, so this module imports nothing but click:

* ``COMMANDS`` below is a static table ``name -> (module, attribute, one-line help)``. `pypeline --help`
  lists commands from it without importing any command module (no SQLAlchemy, Celery, networkx...).
* `LazyGroup.get_command` imports ``module`` and returns ``attribute`` only for the command being run
  (or asked for with `pypeline NAME --help`).

To add a command: write it in its own `pypeline.commands.<group>_cmds` module as usual, then add one
row to ``COMMANDS`` with the same one-line help as the command's docstring (a test checks they agree).
Inside a command module keep heavy imports (the runtime, the store, services, Celery) out of module
level when the command does not always need them — import them in the command body, so that
`pypeline NAME --help` and cheap commands stay fast.
"""
from __future__ import annotations

import atexit
import importlib
import logging
import os
import sys
import threading

import click

from pypeline.version import __version__

__all__ = ["cli", "main", "COMMANDS", "LazyGroup"]

#: Every top-level command: name -> (module, attribute, short help shown by `pypeline --help`).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": ("pypeline.commands.config_cmds", "validate",
                 "Validate sermos.yaml/pypeline.yaml files; lists every error with its line, exits 1 if any."),
    "graph": ("pypeline.commands.config_cmds", "graph", "Print a pipeline's DAG as mermaid or Graphviz dot."),
    "schema": ("pypeline.commands.editor_cmds", "schema",
               "Print the config's JSON Schema (draft 2020-12) for editors: completion, hover help, checks."),
    "fmt": ("pypeline.commands.editor_cmds", "fmt",
            "Normalise key order and indentation of config files, keeping comments."),
    "run": ("pypeline.commands.run_cmds", "run",
            "Run PIPELINE from FILE and wait for it; embedded worker unless a broker is given."),
    "worker": ("pypeline.commands.run_cmds", "worker",
               "Start a Celery worker for FILE's tasks, consuming every queue the config names unless -Q is given."),
    "runs": ("pypeline.commands.runs_cmds", "runs", "Inspect and control pipeline runs."),
    "schedules": ("pypeline.commands.schedule_cmds", "schedules",
                  "Manage schedules in the database (beat applies changes within seconds, no restart)."),
    "beat": ("pypeline.commands.schedule_cmds", "beat",
             "Run Celery beat on the database schedules of FILE (several beats may run: each fire happens once)."),
    "batch": ("pypeline.commands.batch_cmds", "batch",
              "Batch jobs: list keys (S3 or a local folder) and run a pipeline per chunk of keys, resumably."),
    "api": ("pypeline.commands.api_cmds", "api",
            "Serve the HTTP API (/api/v1) and the dashboard (/ui) for FILE (default PYPELINE_CONFIG)."),
    "keys": ("pypeline.commands.api_cmds", "keys", "Manage API keys (only a hash of each key is stored)."),
    "settings": ("pypeline.commands.settings_cmds", "settings",
                 "List every PYPELINE_* setting with its effective value, source, default, unit and meaning."),
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command is looked up."""

    def __init__(self, *args: object, lazy: dict[str, tuple[str, str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Eagerly added commands and the lazy table, sorted."""
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the command's module now."""
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return self.commands.get(cmd_name)
        module_name, attr, _ = self.lazy[cmd_name]
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the static table (no command module is imported for `--help`)."""
        names = [n for n in self.list_commands(ctx) if n in self.lazy or not self.commands[n].hidden]
        limit = formatter.width - 6 - max((len(n) for n in names), default=0)
        rows = []
        for name in names:
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(limit)))
            else:
                # the lazy help text shortened as Click shortens a command's (its helper for that is deprecated)
                rows.append((name, click.Command(name, help=self.lazy[name][2]).get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, lazy=COMMANDS)
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


def main() -> None:
    """Console-script entry point: run the command, then exit without the interpreter's teardown."""
    try:
        cli(prog_name="pypeline")
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code  # click's standalone mode always ends with SystemExit
    _exit(code)


def _exit(code: int | str | None) -> None:
    """Leave the process like `sys.exit(code)`, skipping the teardown of every module and object.

    Freeing the module graph of a command that loaded SQLAlchemy, Celery and pydantic takes 0.3-0.5 s
    after the work is done. The exit hooks still run (logging.shutdown, weakref finalizers, libraries'
    atexit handlers) and the standard streams are flushed; with a live non-daemon thread (which a normal
    exit would wait for) this falls back to sys.exit.
    """
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): the message goes to stderr, status 1
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more to deliver
            pass
    os._exit(status)

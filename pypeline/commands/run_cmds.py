"""`pypeline run` (embedded or against running workers) and `pypeline worker`."""
from __future__ import annotations

import sys
from contextlib import nullcontext
from typing import Any

import click
from rich.table import Table

from pypeline.commands.common import (
    broker_option,
    build_runtime,
    console,
    database_option,
    echo_json,
    err_console,
    handle_errors,
    parse_json_arg,
)
from pypeline.errors import RunTimeoutError, StoreUnavailableError
from pypeline.runtime import Runtime
from pypeline.services import invoke as invoke_service
from pypeline.services import runs as run_service

__all__ = ["run", "worker", "EXIT_STORE_UNAVAILABLE"]

#: Exit code of `pypeline run` when the run store stayed unreachable while waiting (1: run failed, 3: timeout).
EXIT_STORE_UNAVAILABLE = 4

_COLOURS = {"SUCCESS": "green", "FAILED": "red", "RUNNING": "yellow", "RETRYING": "magenta", "SKIPPED": "dim",
            "CANCELLED": "dim red", "QUEUED": "cyan", "PENDING": "white"}


def _progress_table(rt: Runtime, run_id: str) -> Table:
    table = Table(title=f"run {run_id}", show_edge=False)
    table.add_column("node")
    table.add_column("status")
    for node, status in rt.store.node_statuses(run_id).items():
        table.add_row(node, f"[{_COLOURS.get(status, 'white')}]{status}[/]")
    return table


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("pipeline")
@click.option("--payload", default=None, help="chain_payload as JSON, or @file.json.")
@broker_option
@database_option
@click.option("--timeout", default=300.0, show_default=True, type=float, help="Seconds to wait for the run.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole run record as JSON.")
@click.option("-c", "--concurrency", default=2, show_default=True, help="Embedded worker threads.")
@click.option("--tag", "tags", multiple=True, help="Repeatable: a tag of the run (searchable with runs list --tag).")
@handle_errors
def run(file: str, pipeline: str, payload: str | None, broker: str | None, database: str | None, timeout: float,
        as_json: bool, concurrency: int, tags: tuple[str, ...]) -> None:
    """Run PIPELINE from FILE and wait for it; embedded worker unless a broker is given."""
    rt = build_runtime(file, broker, database)
    data = parse_json_arg(payload)
    embedded = not rt.settings.broker_configured
    worker_ctx = rt.embedded_worker(concurrency=concurrency) if embedded else nullcontext()
    with worker_ctx:
        run_id = invoke_service.invoke(rt, pipeline, data, origin="cli", tags=tags)
        record = _wait_with_progress(rt, run_id, timeout, show=not as_json)
    _report(record, as_json)


def _wait_with_progress(rt: Runtime, run_id: str, timeout: float, *, show: bool) -> dict[str, Any]:
    live: Any = nullcontext()
    if show and err_console.is_terminal:
        from rich.live import Live  # a live display only on a terminal (and its import only then)

        live = Live(_progress_table(rt, run_id), console=err_console, refresh_per_second=8, transient=False)
    try:
        with live as display:
            tick = (lambda: display.update(_progress_table(rt, run_id))) if display is not None else None
            rt.wait(run_id, timeout, on_tick=tick)
        return run_service.get_run(rt, run_id)
    except RunTimeoutError as exc:
        err_console.print(f"[bold red]timeout:[/] {exc}")
        sys.exit(3)
    except StoreUnavailableError as exc:
        # Not "the run failed": the run may well finish; we could not see it. Its id lets the user look later.
        err_console.print(f"[bold red]store unavailable:[/] run {run_id} state unknown: {exc}", highlight=False)
        sys.exit(EXIT_STORE_UNAVAILABLE)


def _report(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(record)
    else:
        for node in record["nodes"]:
            colour = _COLOURS.get(node["status"], "white")
            took = f"{node['duration']:.3f}s" if node["duration"] is not None else "-"
            label = node["node"] + (f"[{node['instance']}]" if node["instance"] else "")
            err_console.print(f"  [{colour}]{node['status']:<9}[/] {label} ({took})", highlight=False)
        status = record["status"]
        colour = _COLOURS.get(status, "white")
        err_console.print(f"run {record['id']} [{colour}]{status}[/]", highlight=False)
        if record.get("error"):
            err_console.print(f"  failed node {record['failed_node']}: {record['error']}", highlight=False)
        echo_json(record["result"])
    if record["status"] != "SUCCESS":
        sys.exit(1)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("file", type=click.Path(dir_okay=False))
@broker_option
@database_option
@click.option("-c", "--concurrency", default=None, type=int, help="Worker processes/threads.")
@click.option("-Q", "--queues", default=None, help="Comma-separated queues (default: every queue the config names).")
@click.option("--service", default=None, help="Register only this serviceConfig entry's handlers (WORKER_NAME).")
@click.option("-P", "--pool", default=None, help="Celery pool: prefork (default), threads, solo.")
@click.option("-l", "--loglevel", default="INFO", show_default=True)
@click.option("-n", "--hostname", default=None, help="Worker node name.")
@click.pass_context
@handle_errors
def worker(ctx: click.Context, file: str, broker: str | None, database: str | None, concurrency: int | None,
           queues: str | None, service: str | None, pool: str | None, loglevel: str, hostname: str | None) -> None:
    """Start a Celery worker for FILE's tasks, consuming every queue the config names unless -Q is given.

    Any other option is passed to `celery worker` unchanged (-E, --autoscale, --max-tasks-per-child, ...).
    """
    rt = build_runtime(file, broker, database, service=service)
    rt.store  # migrate before forking pool processes  # noqa: B018
    queue_list = queues or ",".join(rt.config.queues())
    argv = ["worker", "-Q", queue_list, "--loglevel", loglevel, "--without-gossip", "--without-mingle"]
    if concurrency:
        argv += ["-c", str(concurrency)]
    if pool:
        argv += ["-P", pool]
    if hostname:
        argv += ["-n", hostname]
    argv += list(ctx.args)  # Celery's own worker options, validated by Celery
    console.print(f"pypeline worker: {len(rt.task_names)} task(s), queues {queue_list}", highlight=False)
    rt.celery.worker_main(argv)

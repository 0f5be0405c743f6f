"""`pypeline runs list|show|cancel|retry|pause|resume|events`."""
from __future__ import annotations

import click
from rich.table import Table

from pypeline.commands.common import (
    broker_option,
    build_settings,
    config_option,
    console,
    database_option,
    echo_json,
    handle_errors,
)
from pypeline.config import load_config
from pypeline.runtime import Runtime
from pypeline.services import runs as run_service

__all__ = ["runs"]


def _runtime(config_path: str | None, broker: str | None, database: str | None) -> Runtime:
    settings = build_settings(config_path, broker, database)
    config = load_config(settings.config_path) if settings.config_path else None
    return Runtime(config, settings, register=False)


@click.group()
def runs() -> None:
    """Inspect and control pipeline runs."""


@runs.command("list")
@config_option
@database_option
@click.option("--pipeline", default=None)
@click.option("--status", default=None)
@click.option("--limit", default=20, show_default=True)
@click.option("--offset", default=0)
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_cmd(config_path: str | None, database: str | None, pipeline: str | None, status: str | None, limit: int,
             offset: int, as_json: bool) -> None:
    """List runs, newest first."""
    rt = _runtime(config_path, None, database)
    items, total = run_service.list_runs(rt, pipeline_id=pipeline, status=status, limit=limit, offset=offset)
    if as_json:
        echo_json({"total": total, "items": items})
        return
    table = Table(title=f"{total} run(s)")
    for col in ("id", "pipeline", "status", "attempt", "created", "finished"):
        table.add_column(col)
    for r in items:
        table.add_row(r["id"], r["pipeline_id"], r["status"], str(r["attempt"]), r["created_at"] or "",
                      r["finished_at"] or "")
    console.print(table)


@runs.command("show")
@click.argument("run_id")
@config_option
@database_option
@handle_errors
def show_cmd(run_id: str, config_path: str | None, database: str | None) -> None:
    """Show one run with its node runs (JSON)."""
    echo_json(run_service.get_run(_runtime(config_path, None, database), run_id))


def _control(name: str, action: str, doc: str) -> None:
    @runs.command(name, help=doc)
    @click.argument("run_id")
    @config_option
    @broker_option
    @database_option
    @handle_errors
    def _cmd(run_id: str, config_path: str | None, broker: str | None, database: str | None) -> None:
        rt = _runtime(config_path, broker, database)
        record = getattr(run_service, action)(rt, run_id)
        console.print(f"run {run_id}: {record['status']}", highlight=False)


_control("cancel", "cancel_run", "Cancel a run: pending nodes never start, running ones are revoked.")
_control("retry", "retry_run", "Rerun a failed run from its failure (only failed/skipped nodes run).")
_control("pause", "pause_run", "Pause a run: no new node is dispatched until resume.")
_control("resume", "resume_run", "Resume a paused run.")


@runs.command("recover")
@click.option("--older-than", default=None, type=float,
              help="Re-publish every node QUEUED for longer than this many seconds, even if its queue is not "
                   "empty (default: PYPELINE_QUEUED_OVERDUE_SECONDS, only when the node's queue is empty).")
@config_option
@broker_option
@database_option
@handle_errors
def recover_cmd(older_than: float | None, config_path: str | None, broker: str | None, database: str | None) -> None:
    """Run one reconciler pass now: re-run nodes of dead workers, re-publish lost messages, apply maxRunTtl."""
    echo_json(run_service.recover_stalled(_runtime(config_path, broker, database), older_than))


@runs.command("events")
@click.argument("run_id")
@config_option
@database_option
@handle_errors
def events_cmd(run_id: str, config_path: str | None, database: str | None) -> None:
    """List the events recorded on a run."""
    echo_json(run_service.run_events(_runtime(config_path, None, database), run_id))

"""`pypeline runs list|show|cancel|retry|pause|resume|events|recover|prune|logs`."""
from __future__ import annotations

import time
from typing import Any

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
from pypeline.services import logs as log_service
from pypeline.services import retention as retention_service
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
@click.option("--status", default=None, multiple=True, help="Repeatable: any of these statuses.")
@click.option("--origin", default=None, help="Exact origin: cli, api, schedule:<id>, batch:<id>.")
@click.option("--tag", "tags", multiple=True, help="Repeatable: runs carrying every tag given.")
@click.option("--created-after", default=None, help="ISO 8601 date or time (UTC unless an offset is given).")
@click.option("--created-before", default=None, help="ISO 8601 date or time (UTC unless an offset is given).")
@click.option("--limit", default=20, show_default=True)
@click.option("--offset", default=0)
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_cmd(config_path: str | None, database: str | None, pipeline: str | None, status: tuple[str, ...],
             origin: str | None, tags: tuple[str, ...], created_after: str | None, created_before: str | None,
             limit: int, offset: int, as_json: bool) -> None:
    """List runs, newest first, filtered by pipeline, status, origin, tags and creation time."""
    rt = _runtime(config_path, None, database)
    items, total = run_service.list_runs(rt, pipeline_id=pipeline, status=status, origin=origin, tags=tags,
                                         created_after=created_after, created_before=created_before,
                                         limit=limit, offset=offset)
    if as_json:
        echo_json({"total": total, "items": items})
        return
    table = Table(title=f"{total} run(s)")
    for col in ("id", "pipeline", "status", "attempt", "origin", "tags", "created", "finished"):
        table.add_column(col)
    for r in items:
        table.add_row(r["id"], r["pipeline_id"], r["status"], str(r["attempt"]), r["origin"] or "",
                      ",".join(r["tags"]), r["created_at"] or "", r["finished_at"] or "")
    console.print(table)


@runs.command("show")
@click.argument("run_id")
@config_option
@database_option
@click.option("--json", "as_json", is_flag=True, help="JSON output (the default).")
@click.option("--text", "as_text", is_flag=True, help="A readable summary: status, parent and child runs, nodes.")
@handle_errors
def show_cmd(run_id: str, config_path: str | None, database: str | None, as_json: bool, as_text: bool) -> None:
    """Show one run with its tags, node runs (each with a `logs` link), notification attempts and sub-pipeline
    links (`parent`, `children`): JSON, or a summary with --text."""
    record = run_service.get_run(_runtime(config_path, None, database), run_id)
    if as_text and not as_json:
        click.echo(run_text(record))
    else:
        echo_json(record)


def run_text(run: dict[str, Any]) -> str:
    """The human summary of `runs show --text`."""
    lines = [f"run {run['id']}  {run['pipeline_id']}  {run['status']}  attempt {run['attempt']}"]
    if run.get("origin"):
        lines.append(f"origin: {run['origin']}")
    parent = run.get("parent")
    if parent:
        at = f"{parent['node']}[{parent['instance']}]" if parent["instance"] else parent["node"]
        lines.append(f"parent: run {parent['run_id']} node {at}")
    for child in run.get("children", ()):
        at = f"{child['node']}[{child['instance']}]" if child["instance"] else child["node"]
        lines.append(f"child: run {child['id']} ({child['pipeline_id']}, {child['status']}) started by node {at}")
    if run.get("error"):
        lines.append(f"error: {run['error']}")
    for node in run.get("nodes", ()):
        at = f"{node['node']}[{node['instance']}]" if node["instance"] else node["node"]
        lines.append(f"  {at}: {node['status']}" + (f" - {node['error']}" if node.get("error") else ""))
    return "\n".join(lines)


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


@runs.command("prune")
@click.option("--older-than", "older_than", required=True, type=float, help="Days since the run finished.")
@click.option("--status", "statuses", multiple=True, help="Repeatable: only runs of these finished statuses.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.option("--batch", default=500, show_default=True, help="Runs deleted per transaction.")
@config_option
@database_option
@handle_errors
def prune_cmd(older_than: float, statuses: tuple[str, ...], dry_run: bool, batch: int, config_path: str | None,
              database: str | None) -> None:
    """Delete finished runs older than --older-than days, with their nodes, events, tags and logs, in batches."""
    echo_json(retention_service.prune(_runtime(config_path, None, database), older_than, statuses,
                                      dry_run=dry_run, batch=batch))


@runs.command("logs")
@click.argument("run_id")
@click.option("--node", default=None, help="Only this node's output.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output until the run finishes.")
@click.option("--interval", default=1.0, show_default=True, type=float, help="Seconds between polls with --follow.")
@config_option
@database_option
@handle_errors
def logs_cmd(run_id: str, node: str | None, follow: bool, interval: float, config_path: str | None,
             database: str | None) -> None:
    """Print what a run's nodes logged or printed, each node attempt under a header."""
    rt = _runtime(config_path, None, database)
    cursor, last = 0, None
    while True:
        page = log_service.run_logs(rt, run_id, node=node, after=cursor)
        for item in page["items"]:
            key = (item["node"], item["instance"], item["attempt"])
            if key != last:
                label = item["node"] + (f"[{item['instance']}]" if item["instance"] else "")
                click.echo(f"==> {label} (attempt {item['attempt']}) <==")
                last = key
            click.echo(item["text"], nl=False)
        cursor = page["next"]
        if page["items"]:
            continue  # a page is at most 1,000 chunks: read on until there is nothing new
        if not follow or page["terminal"]:
            return
        time.sleep(max(interval, 0.05))

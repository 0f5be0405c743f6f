"""`pypeline schedules list|show|add|update|enable|disable|delete|sync` and `pypeline beat FILE`."""
from __future__ import annotations

from pathlib import Path
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
    parse_json_arg,
)
from pypeline.config import load_config
from pypeline.errors import InvalidInputError, PypelineError
from pypeline.runtime import Runtime
from pypeline.scheduler.heartbeat import heartbeat_age
from pypeline.scheduler.spec import describe_interval
from pypeline.services import schedules as schedule_service

__all__ = ["schedules", "beat"]

SCHEDULER = "pypeline.scheduler:DatabaseScheduler"


def _runtime(config_path: str | None, database: str | None, broker: str | None = None) -> Runtime:
    settings = build_settings(config_path, broker, database)
    config = load_config(settings.config_path) if settings.config_path else None
    return Runtime(config, settings, register=False)


def _when(doc: dict[str, Any]) -> str:
    config = doc["config"]
    schedule = config["schedule"]
    if config["scheduleType"] == "crontab":
        cron = " ".join(schedule[k] for k in ("minute", "hour", "dayOfMonth", "monthOfYear", "dayOfWeek"))
        return f"cron {cron} ({config['timezone']})"
    if config["scheduleType"] == "interval":
        return describe_interval(schedule["every"], schedule["period"])
    return f"at {schedule['at']}"


def _target(doc: dict[str, Any]) -> str:
    config = doc["config"]
    return f"task {config['task']}" if "task" in config else f"pipeline {config['pipeline']}"


@click.group()
def schedules() -> None:
    """Manage schedules in the database (beat applies changes within seconds, no restart)."""


@schedules.command("list")
@config_option
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def list_cmd(config_path: str | None, database: str | None, as_json: bool) -> None:
    """List schedules."""
    items = schedule_service.list_schedules(_runtime(config_path, database))
    if as_json:
        echo_json(items)
        return
    table = Table(title=f"{len(items)} schedule(s)")
    for col in ("id", "name", "target", "when", "enabled", "next run", "last run", "runs", "source"):
        table.add_column(col)
    for d in items:
        table.add_row(d["id"], d["name"], _target(d), _when(d), "yes" if d["enabled"] else "no",
                      d["nextRunAt"] or "-", d["lastRunAt"] or "-", str(d["totalRunCount"]), d["source"])
    console.print(table)


@schedules.command("show")
@click.argument("schedule_id")
@config_option
@database_option
@click.option("--fires", default=10, show_default=True, help="How many recent fires to include.")
@handle_errors
def show_cmd(schedule_id: str, config_path: str | None, database: str | None, fires: int) -> None:
    """Show one schedule and its latest fires (JSON)."""
    rt = _runtime(config_path, database)
    doc = schedule_service.get_schedule(rt, schedule_id)
    doc["fires"] = schedule_service.list_fires(rt, schedule_id, limit=fires)
    echo_json(doc)


def _document(options: dict[str, Any]) -> dict[str, Any]:
    """A flat schedule document from `add`/`update` flags (only the flags given)."""
    doc: dict[str, Any] = {}
    if options.get("document") is not None:
        loaded = parse_json_arg(options["document"], "schedule document")
        if not isinstance(loaded, dict):
            raise InvalidInputError("the schedule document must be a JSON object")
        doc.update(loaded)
    names = {"schedule_id": "id", "name": "name", "task": "task", "pipeline": "pipeline", "cron": "cron",
             "every": "every", "at": "at", "timezone": "timezone", "queue": "queue", "exchange": "exchange",
             "routing_key": "routing_key", "expires": "expires"}
    for option, key in names.items():
        if options.get(option) is not None:
            doc[key] = options[option]
    if options.get("payload") is not None:
        doc["payload"] = parse_json_arg(options["payload"])
    if options.get("enabled") is not None:
        doc["enabled"] = options["enabled"]
    return doc


def _schedule_options(fn: Any) -> Any:
    for option in reversed([
        click.option("--name", default=None, help="Unique display name."),
        click.option("--task", default=None, help="A declared handler path to send."),
        click.option("--pipeline", default=None, help="A declared pipeline id to run."),
        click.option("--cron", default=None, help="Five cron fields, e.g. '0 2 * * *'."),
        click.option("--every", default=None, type=float, help="Interval in seconds."),
        click.option("--at", default=None, help="One-off ISO-8601 time."),
        click.option("--timezone", default=None, help="IANA zone of the cron fields (default UTC)."),
        click.option("--payload", default=None, help="Payload JSON object (or @file.json)."),
        click.option("--queue", default=None),
        click.option("--exchange", default=None),
        click.option("--routing-key", "routing_key", default=None),
        click.option("--expires", default=None, type=int, help="Seconds an unconsumed task message stays valid."),
        click.option("--enabled/--disabled", "enabled", default=None),
        click.option("--json", "document", default=None,
                     help="A whole schedule document (original or flat shape) as JSON or @file.json."),
    ]):
        fn = option(fn)
    return fn


@schedules.command("add")
@click.option("--id", "schedule_id", default=None, help="Schedule id (default: derived from the name).")
@_schedule_options
@config_option
@database_option
@handle_errors
def add_cmd(config_path: str | None, database: str | None, **options: Any) -> None:
    """Create a schedule for a declared task or pipeline; it first fires one period from now."""
    doc = schedule_service.create_schedule(_runtime(config_path, database), _document(options))
    console.print(f"schedule {doc['id']} created; next run {doc['nextRunAt'] or 'never (disabled)'}",
                  highlight=False)


@schedules.command("update")
@click.argument("schedule_id")
@_schedule_options
@config_option
@database_option
@handle_errors
def update_cmd(schedule_id: str, config_path: str | None, database: str | None, **options: Any) -> None:
    """Change some fields of a schedule."""
    doc = schedule_service.update_schedule(_runtime(config_path, database), schedule_id, _document(options))
    console.print(f"schedule {doc['id']} updated; next run {doc['nextRunAt'] or 'never'}", highlight=False)


def _toggle(name: str, enabled: bool, doc: str) -> None:
    @schedules.command(name, help=doc)
    @click.argument("schedule_id")
    @config_option
    @database_option
    @handle_errors
    def _cmd(schedule_id: str, config_path: str | None, database: str | None) -> None:
        result = schedule_service.set_enabled(_runtime(config_path, database), schedule_id, enabled)
        console.print(f"schedule {schedule_id} {name}d; next run {result['nextRunAt'] or 'never'}", highlight=False)


_toggle("enable", True, "Enable a schedule (its next run is computed from now).")
_toggle("disable", False, "Disable a schedule (beats stop firing it within seconds).")


@schedules.command("delete")
@click.argument("schedule_id")
@config_option
@database_option
@handle_errors
def delete_cmd(schedule_id: str, config_path: str | None, database: str | None) -> None:
    """Delete a schedule (a config schedule stays deleted until re-created)."""
    schedule_service.delete_schedule(_runtime(config_path, database), schedule_id)
    console.print(f"schedule {schedule_id} deleted", highlight=False)


@schedules.command("sync")
@config_option
@database_option
@handle_errors
def sync_cmd(config_path: str | None, database: str | None) -> None:
    """Sync the config's scheduledTasks into the database now (beat also does it at start)."""
    echo_json(schedule_service.sync_config_schedules(_runtime(config_path, database)))


def _beat_healthcheck(path: Path, max_age: float) -> None:
    age = heartbeat_age(path)
    if age is None or age > max_age:
        state = "no heartbeat file" if age is None else f"last heartbeat {age:.0f} s ago"
        raise PypelineError(f"beat is not healthy: {state} ({path})")
    console.print(f"beat is alive: last heartbeat {age:.1f} s ago", highlight=False)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@broker_option
@database_option
@click.option("--catch-up", "catch_up", type=click.Choice(["once", "skip"]), default=None,
              help="Slots missed while no beat ran: fire once, or skip (default PYPELINE_BEAT_CATCH_UP, once).")
@click.option("-l", "--loglevel", default="INFO", show_default=True)
@click.option("--healthcheck", is_flag=True,
              help="Do not run beat: exit 0 if a beat on this host touched its heartbeat file lately, else 1.")
@click.option("--max-age", default=30.0, show_default=True, type=click.FloatRange(min=1),
              help="With --healthcheck: seconds after which the heartbeat counts as stale.")
@handle_errors
def beat(file: str, broker: str | None, database: str | None, catch_up: str | None, loglevel: str,
         healthcheck: bool, max_age: float) -> None:
    """Run Celery beat on the database schedules of FILE (several beats may run: each fire happens once)."""
    settings = build_settings(file, broker, database).with_overrides(beat_catch_up=catch_up)
    if healthcheck:
        _beat_healthcheck(settings.resolved_beat_heartbeat_file, max_age)
        return
    # Beat sends tasks by name and never runs handler code: it does not import the handler modules.
    rt = Runtime(load_config(file, check_handlers=False), settings, register=False)
    schedule_service.schedule_store(rt)  # migrate before beat starts
    console.print(f"pypeline beat: database {settings.resolved_database_url.split('@')[-1]}, "
                  f"catch-up {settings.beat_catch_up}", highlight=False)
    rt.celery.Beat(scheduler=SCHEDULER, loglevel=loglevel, max_interval=settings.beat_max_interval).run()


@schedules.command("backfill")
@click.argument("schedule_id")
@click.option("--from", "start", required=True, help="ISO 8601 start of the range (inclusive; UTC unless offset).")
@click.option("--to", "end", required=True, help="ISO 8601 end of the range (inclusive; UTC unless offset).")
@click.option("--max-active", default=None, type=click.IntRange(min=1),
              help="Never more than N backfill runs active at once (waits for runs to finish).")
@click.option("--dry-run", is_flag=True, help="Only list the slots and whether each already has a run.")
@config_option
@broker_option
@database_option
@handle_errors
def backfill_cmd(schedule_id: str, start: str, end: str, max_active: int | None, dry_run: bool,
                 config_path: str | None, broker: str | None, database: str | None) -> None:
    """Start one run per slot of a pipeline schedule between --from and --to, tagged `backfill`."""
    from pypeline.services import backfill as backfill_service

    rt = _runtime(config_path, database, broker)
    echo_json(backfill_service.backfill(rt, schedule_id, start, end, max_active=max_active, dry_run=dry_run))

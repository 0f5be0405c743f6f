"""`pypeline batch run|status|resume|stop|list`: batch jobs (a key generator feeding a pipeline in chunks)."""
from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pypeline.batches.driver import drive
from pypeline.commands.common import (
    broker_option,
    build_runtime,
    build_settings,
    config_option,
    console,
    database_option,
    echo_json,
    err_console,
    handle_errors,
    parse_json_arg,
)
from pypeline.config import load_config
from pypeline.config.batch_defaults import DEFAULT_CHUNK_SIZE, DEFAULT_KEY_FIELD, DEFAULT_MAX_IN_FLIGHT
from pypeline.config.model import GeneratorConfig
from pypeline.errors import InvalidInputError, RunTimeoutError
from pypeline.runtime import Runtime
from pypeline.services import batches as batch_service

__all__ = ["batch"]

_COLOURS = {"SUCCESS": "green", "FAILED": "red", "RUNNING": "yellow", "PAUSED": "magenta", "CANCELLED": "dim red",
            "UNSTARTED": "white", "QUEUED": "cyan", "PENDING": "white"}


def _light_runtime(config_path: str | None, database: str | None) -> Runtime:
    """A runtime for reading and controlling batch runs (config optional, no tasks registered)."""
    settings = build_settings(config_path, None, database)
    config = load_config(settings.config_path) if settings.config_path else None
    return Runtime(config, settings, register=False)


def _worker_for(rt: Runtime, detach: bool, concurrency: int) -> AbstractContextManager[Any]:
    """An in-process worker when the broker is the embedded one and this command drives in the foreground."""
    if detach or not rt.settings.is_embedded:
        return nullcontext()
    return rt.embedded_worker(concurrency=concurrency)


def _progress_line(record: dict[str, Any]) -> str:
    parts = [f"{record['keys_listed']} keys listed", f"{record['chunks_running'] + record['chunks_unstarted']} running"]
    if record["chunks_failed"] or record["chunks_cancelled"]:
        parts.append(f"[red]{record['chunks_failed'] + record['chunks_cancelled']} failed[/]")
    return " · ".join(parts)


def _drive_with_progress(rt: Runtime, record: dict[str, Any], *, timeout: float | None, show: bool) -> dict[str, Any]:
    """Drive a batch run in the foreground with a progress bar; Ctrl-C stops it (resumable)."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("chunks · {task.fields[detail]}"), TimeElapsedColumn())
    batch_run_id = record["id"]
    with Progress(*columns, console=err_console, disable=not show, transient=False) as progress:
        task = progress.add_task(f"batch {record['batch_id'] or record['pipeline_id']}", total=None, detail="")

        def tick(rec: dict[str, Any]) -> None:
            done = rec["chunks_succeeded"] + rec["chunks_failed"] + rec["chunks_cancelled"]
            progress.update(task, completed=done, total=rec["chunks_dispatched"] if rec["listing_done"] else None,
                            detail=_progress_line(rec))

        try:
            return drive(rt, batch_run_id, record["driver_token"], on_tick=tick, timeout=timeout)
        except KeyboardInterrupt:
            batch_service.stop_batch(rt, batch_run_id)
            err_console.print(f"\nstopped; continue with `pypeline batch resume {batch_run_id}`", highlight=False)
            sys.exit(130)
        except RunTimeoutError as exc:
            err_console.print(f"[bold red]timeout:[/] {exc}", highlight=False)
            sys.exit(3)


def _report(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(record)
    else:
        colour = _COLOURS.get(record["status"], "white")
        err_console.print(
            f"batch run {record['id']} [{colour}]{record['status']}[/]: {record['keys_listed']} keys in "
            f"{record['chunks_dispatched']} chunks ({record['chunks_succeeded']} succeeded, "
            f"{record['chunks_failed']} failed, {record['chunks_cancelled']} cancelled)", highlight=False)
        if record.get("error"):
            err_console.print(f"  {record['error']}", highlight=False, markup=False)
    if record["status"] not in ("SUCCESS", "RUNNING"):
        sys.exit(1)


def _detached(record: dict[str, Any], rt: Runtime, as_json: bool) -> None:
    if as_json:
        echo_json(record)
        return
    click.echo(record["id"])
    note = " (the embedded broker: a `pypeline worker` with the same PYPELINE_HOME must run)" \
        if rt.settings.is_embedded else ""
    err_console.print(f"batch run {record['id']} handed to the workers{note}; "
                      f"follow it with `pypeline batch status {record['id']}`", highlight=False)


@click.group()
def batch() -> None:
    """Batch jobs: list keys (S3 or a local folder) and run a pipeline per chunk of keys, resumably."""


def _adhoc_generator(local_path: str | None, bucket: str | None, options: dict[str, Any]) -> GeneratorConfig:
    if (local_path is None) == (bucket is None):
        raise InvalidInputError("give exactly one source: --local PATH or --s3 BUCKET")
    if local_path is not None:
        if options.get("endpoint_url") or options.get("region"):
            raise InvalidInputError("--endpoint-url and --region only apply to --s3")
        return GeneratorConfig("local", {"path": local_path, **options})
    return GeneratorConfig("s3", {"bucket": bucket, **options})


@batch.command("run")
@click.argument("batch_id", required=False)
@config_option
@broker_option
@database_option
@click.option("--pipeline", default=None, help="Ad hoc batch: the pipeline to feed (with --local or --s3).")
@click.option("--local", "local_path", default=None, metavar="PATH", help="Ad hoc batch: files under this folder.")
@click.option("--s3", "bucket", default=None, metavar="BUCKET", help="Ad hoc batch: keys of this S3 bucket.")
@click.option("--prefix", default=None, help="Only keys starting with this prefix.")
@click.option("--include", multiple=True, help="Glob a key must match (repeatable).")
@click.option("--exclude", multiple=True, help="Glob excluding keys (repeatable).")
@click.option("--endpoint-url", default=None, help="S3-compatible endpoint (MinIO...).")
@click.option("--region", default=None, help="S3 region.")
@click.option("--chunk-size", type=int, default=None,
              help=f"Keys per pipeline run (config: chunkSize, default {DEFAULT_CHUNK_SIZE}).")
@click.option("--concurrency", type=int, default=None,
              help=f"Most unfinished chunk runs at once (default {DEFAULT_MAX_IN_FLIGHT}).")
@click.option("--payload-key", default=None,
              help=f"chain_payload key holding the keys (default {DEFAULT_KEY_FIELD!r}).")
@click.option("--payload", default=None, help="Extra chain_payload as JSON, or @file.json.")
@click.option("--detach", is_flag=True, help="Hand the batch to the workers' driver and return at once.")
@click.option("--timeout", type=float, default=None, help="Seconds to drive before giving up (resumable).")
@click.option("--json", "as_json", is_flag=True, help="Print the batch run record as JSON.")
@click.option("-c", "--worker-concurrency", default=2, show_default=True, help="Embedded worker threads.")
@handle_errors
def run_cmd(batch_id: str | None, config_path: str | None, broker: str | None, database: str | None,
            pipeline: str | None, local_path: str | None, bucket: str | None, prefix: str | None,
            include: tuple[str, ...], exclude: tuple[str, ...], endpoint_url: str | None, region: str | None,
            chunk_size: int | None, concurrency: int | None, payload_key: str | None, payload: str | None,
            detach: bool, timeout: float | None, as_json: bool, worker_concurrency: int) -> None:
    """Run batch BATCH_ID from config, or an ad hoc one (--pipeline P --local PATH | --s3 BUCKET).

    Drives the batch here with a progress bar (Ctrl-C stops it; `resume` continues), using an embedded
    worker when no broker is configured. --detach hands it to the workers instead.
    """
    filters: dict[str, Any] = {"prefix": prefix, "include": list(include) or None, "exclude": list(exclude) or None}
    filters = {k: v for k, v in filters.items() if v is not None}
    extra = parse_json_arg(payload)
    rt = build_runtime(config_path, broker, database)
    driver: batch_service.Driver = "worker" if detach else "local"
    start: Callable[[], dict[str, Any]]
    if batch_id is not None:
        if pipeline or local_path or bucket or endpoint_url or region:
            raise InvalidInputError("give either BATCH_ID or --pipeline with --local/--s3, not both")
        overrides: dict[str, Any] = {"chunkSize": chunk_size, "concurrency": concurrency, "payloadKey": payload_key}
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if extra is not None:
            overrides["payload"] = extra
        if filters:
            overrides["generator"] = filters
        start = partial(batch_service.start_batch, rt, batch_id, overrides=overrides, origin="cli", driver=driver)
    else:
        if not pipeline:
            raise InvalidInputError("give a BATCH_ID declared in config, or --pipeline with --local PATH/--s3 BUCKET")
        options = {**filters, "endpoint_url": endpoint_url, "region": region}
        generator = _adhoc_generator(local_path, bucket, {k: v for k, v in options.items() if v is not None})
        start = partial(batch_service.start_adhoc_batch, rt, pipeline, generator,
                        chunk_size=DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size,
                        concurrency=DEFAULT_MAX_IN_FLIGHT if concurrency is None else concurrency,
                        payload_key=payload_key or DEFAULT_KEY_FIELD, payload=extra, origin="cli", driver=driver)
    with _worker_for(rt, detach, worker_concurrency):
        record = start()
        if detach:
            _detached(record, rt, as_json)
            return
        final = _drive_with_progress(rt, record, timeout=timeout, show=not as_json)
    _report(final, as_json)


@batch.command("resume")
@click.argument("batch_run_id")
@config_option
@broker_option
@database_option
@click.option("--retry-failed", is_flag=True, help="Also re-run the failed nodes of failed chunk runs.")
@click.option("--detach", is_flag=True, help="Hand the batch to the workers' driver and return at once.")
@click.option("--timeout", type=float, default=None, help="Seconds to drive before giving up (resumable).")
@click.option("--json", "as_json", is_flag=True)
@click.option("-c", "--worker-concurrency", default=2, show_default=True, help="Embedded worker threads.")
@handle_errors
def resume_cmd(batch_run_id: str, config_path: str | None, broker: str | None, database: str | None,
               retry_failed: bool, detach: bool, timeout: float | None, as_json: bool, worker_concurrency: int) -> None:
    """Continue a stopped, failed or orphaned batch run from its cursor (no key skipped or repeated)."""
    rt = build_runtime(config_path, broker, database)
    with _worker_for(rt, detach, worker_concurrency):
        record = batch_service.resume_batch(rt, batch_run_id, retry_failed=retry_failed,
                                            driver="worker" if detach else "local")
        if detach:
            _detached(record, rt, as_json)
            return
        final = _drive_with_progress(rt, record, timeout=timeout, show=not as_json)
    _report(final, as_json)


@batch.command("stop")
@click.argument("batch_run_id")
@config_option
@database_option
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def stop_cmd(batch_run_id: str, config_path: str | None, database: str | None, as_json: bool) -> None:
    """Stop a running batch: no new chunk starts, started chunk runs finish; `resume` continues it."""
    record = batch_service.stop_batch(_light_runtime(config_path, database), batch_run_id)
    if as_json:
        echo_json(record)
    else:
        err_console.print(f"batch run {batch_run_id} {record['status']} at {record['keys_listed']} keys "
                          f"({record['chunks_running'] + record['chunks_unstarted']} chunk runs still finishing)",
                          highlight=False)


@batch.command("status")
@click.argument("batch_run_id")
@config_option
@database_option
@click.option("--chunks", "show_chunks", is_flag=True, help="Also list the chunks and their runs.")
@click.option("--limit", default=100, show_default=True, help="Chunks to list.")
@click.option("--offset", default=0, help="First chunk to list.")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def status_cmd(batch_run_id: str, config_path: str | None, database: str | None, show_chunks: bool, limit: int,
               offset: int, as_json: bool) -> None:
    """Show a batch run's progress (and its chunks with --chunks)."""
    rt = _light_runtime(config_path, database)
    record = batch_service.batch_status(rt, batch_run_id)
    chunks = batch_service.batch_chunks(rt, batch_run_id, limit=limit, offset=offset) if show_chunks else None
    if as_json:
        echo_json({**record, "chunks": chunks} if chunks is not None else record)
        return
    table = Table(title=f"batch run {batch_run_id}", show_header=False, show_edge=False)
    colour = _COLOURS.get(record["status"], "white")
    rows = [("batch", record["batch_id"] or "(ad hoc)"), ("pipeline", record["pipeline_id"]),
            ("status", f"[{colour}]{record['status']}[/]"), ("driver", record["driver"] or "-"),
            ("keys listed", str(record["keys_listed"])), ("listing done", "yes" if record["listing_done"] else "no"),
            ("cursor", record["cursor"] or "-"),
            ("chunks", f"{record['chunks_dispatched']} dispatched, {record['chunks_running']} running, "
                       f"{record['chunks_unstarted']} unstarted, {record['chunks_succeeded']} succeeded, "
                       f"{record['chunks_failed']} failed, {record['chunks_cancelled']} cancelled"),
            ("created", record["created_at"] or ""), ("finished", record["finished_at"] or "-")]
    if record["error"]:
        rows.append(("error", record["error"]))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    if chunks is not None:
        ctable = Table(title="chunks")
        for col in ("chunk", "run", "keys", "first key", "last key", "status"):
            ctable.add_column(col)
        for c in chunks:
            ctable.add_row(str(c["chunk"]), c["run_id"], str(c["key_count"]), c["first_key"] or "",
                           c["last_key"] or "", f"[{_COLOURS.get(c['status'], 'white')}]{c['status']}[/]")
        console.print(ctable)


@batch.command("list")
@config_option
@database_option
@click.option("--batch", "batch_id", default=None, help="Only runs of this batch id.")
@click.option("--status", default=None)
@click.option("--limit", default=20, show_default=True)
@click.option("--offset", default=0)
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_cmd(config_path: str | None, database: str | None, batch_id: str | None, status: str | None, limit: int,
             offset: int, as_json: bool) -> None:
    """List batch runs, newest first."""
    items, total = batch_service.list_batch_runs(_light_runtime(config_path, database), limit, offset,
                                                 batch_id=batch_id, status=status)
    if as_json:
        echo_json({"total": total, "items": items})
        return
    table = Table(title=f"{total} batch run(s)")
    for col in ("id", "batch", "pipeline", "status", "keys", "chunks ok/failed/all", "created"):
        table.add_column(col)
    for r in items:
        colour = _COLOURS.get(r["status"], "white")
        table.add_row(r["id"], r["batch_id"] or "(ad hoc)", r["pipeline_id"], f"[{colour}]{r['status']}[/]",
                      str(r["keys_listed"]),
                      f"{r['chunks_succeeded']}/{r['chunks_failed'] + r['chunks_cancelled']}/{r['chunks_dispatched']}",
                      r["created_at"] or "")
    console.print(table)

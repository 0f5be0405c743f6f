"""Batch use cases: start (declared or ad hoc), stop, resume, and the status, list and chunk queries.

The batch domain (spec, store, launch, driver loop, worker tasks) is `pypeline.batches`; both faces and the
CLI call these functions. See docs/batches.md.
"""
from __future__ import annotations

from typing import Any

from pypeline.batches.driver import DRIVER_TASK, batch_document, batch_status
from pypeline.batches.launch import Driver, hand_to_worker, launch, take_over
from pypeline.batches.spec import adhoc_spec, spec_from_config
from pypeline.batches.store import ChunkCounts, batch_store
from pypeline.config.batch_defaults import DEFAULT_CHUNK_SIZE, DEFAULT_KEY_FIELD, DEFAULT_MAX_IN_FLIGHT
from pypeline.config.model import GeneratorConfig
from pypeline.errors import InvalidInputError
from pypeline.runtime import Runtime
from pypeline.services.runs import retry_run
from pypeline.status import Status

__all__ = [
    "DRIVER_TASK",
    "Driver",
    "start_batch",
    "start_adhoc_batch",
    "batch_status",
    "batch_chunks",
    "list_batch_runs",
    "stop_batch",
    "resume_batch",
]


def batch_chunks(rt: Runtime, batch_run_id: str, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """The chunks of a batch run in order, each with its pipeline run's id and status."""
    _check_page(limit, offset)
    store = batch_store(rt)
    store.get(batch_run_id)
    return store.chunks(batch_run_id, limit=limit, offset=offset)


def _check_page(limit: Any, offset: Any) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 500:
        raise InvalidInputError(f"limit must be an integer from 1 to 500, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInputError(f"offset must be an integer >= 0, got {offset!r}")


def list_batch_runs(
    rt: Runtime, limit: int = 50, offset: int = 0, *, batch_id: str | None = None, status: str | None = None
) -> tuple[list[dict[str, Any]], int]:
    """A page of batch runs (newest first) with their progress, and the total count matching the filters."""
    _check_page(limit, offset)
    if status is not None:
        try:
            status = Status(str(status).upper()).value
        except ValueError:
            raise InvalidInputError(f"unknown status {status!r}; one of {[s.value for s in Status]}") from None
    store = batch_store(rt)
    records, total = store.list_runs(batch_id=batch_id, status=status, limit=limit, offset=offset)
    counts = store.counts_for([r["id"] for r in records])
    return [batch_document(r, counts.get(r["id"], ChunkCounts())) for r in records], total


def start_batch(
    rt: Runtime,
    batch_id: str,
    *,
    overrides: dict[str, Any] | None = None,
    origin: str | None = "api",
    batch_run_id: str | None = None,
    driver: Driver = "worker",
) -> dict[str, Any]:
    """Start the `batches.<batch_id>` entry; returns the new batch run record at once.

    `overrides` may change chunkSize, concurrency, payloadKey, payload (extra chain_payload) and the
    generator's filters (prefix, include, exclude, regex, minSize, maxSize, modifiedSince, recursive).
    driver="worker" hands the run to the workers' driver; with "local" the caller drives it
    (`pypeline.batches.driver.drive(rt, id, record["driver_token"])`).
    """
    spec = spec_from_config(rt.config, batch_id, overrides)
    return launch(rt, spec, origin=origin, driver=driver, batch_run_id=batch_run_id)


def start_adhoc_batch(
    rt: Runtime,
    pipeline: str,
    generator: GeneratorConfig,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    concurrency: int = DEFAULT_MAX_IN_FLIGHT,
    payload_key: str = DEFAULT_KEY_FIELD,
    payload: dict[str, Any] | None = None,
    origin: str | None = "cli",
    driver: Driver = "worker",
) -> dict[str, Any]:
    """Start a batch not declared in config: `generator` keys fed to `pipeline` in chunks."""
    spec = adhoc_spec(pipeline, generator, chunk_size=chunk_size, concurrency=concurrency, payload_key=payload_key,
                      payload=payload)
    return launch(rt, spec, origin=origin, driver=driver)


def stop_batch(rt: Runtime, batch_run_id: str) -> dict[str, Any]:
    """Stop a RUNNING batch (PAUSED): no new chunk is dispatched; chunk runs already started finish."""
    batch_store(rt).transition(batch_run_id, Status.PAUSED, driver_token=None)
    return batch_status(rt, batch_run_id)


def resume_batch(
    rt: Runtime, batch_run_id: str, *, retry_failed: bool = False, driver: Driver = "worker"
) -> dict[str, Any]:
    """Continue a stopped, failed or orphaned batch run from its cursor, under a new driver.

    A RUNNING batch whose driver died (killed CLI, lost worker) is taken over; `retry_failed` also
    re-runs the failed nodes of failed or cancelled chunk runs. With driver="local" the caller drives.
    """
    store = batch_store(rt)
    record = store.get(batch_run_id)
    rt.config.pipeline(record["pipeline_id"])  # the pipeline must still be declared
    if record["status"] != Status.RUNNING.value:
        store.transition(batch_run_id, Status.RUNNING, error=None)
    token = take_over(rt, batch_run_id, driver=driver)
    if retry_failed:  # before the driver's first step, which would otherwise end the batch on the failed chunks
        for run_id in store.chunk_runs(batch_run_id, (Status.FAILED, Status.CANCELLED)):
            retry_run(rt, run_id)
    if driver == "worker":
        hand_to_worker(rt, batch_run_id, token)
    return batch_status(rt, batch_run_id)

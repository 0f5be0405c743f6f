"""Driving a batch run: repeated steps that dispatch chunk runs up to the concurrency cap, then finish.

Each driver step:

1. starts the run of every recorded chunk whose run does not exist yet (a driver that stopped between
   recording a chunk and starting its run), with the chunk's pre-generated run id;
2. while fewer than `concurrency` chunk runs are unfinished, takes the next `chunk_size` keys after the
   cursor, records the chunk (keys + run id) and moves the cursor in one transaction, then starts its run;
3. ends the batch once the listing is exhausted and every chunk run is finished.

A chunk's run id is chosen before the chunk is recorded and is the run's primary key, so a chunk run
is started at most once however often a step is repeated; the cursor moves only with a recorded
chunk, so stopping and resuming neither skips nor repeats keys. The worker-side driver is the task in
`pypeline.batches.tasks`; `drive` is the foreground loop. See docs/batches.md.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy.exc import IntegrityError

from pypeline.batches.spec import BatchSpec
from pypeline.batches.store import BatchStore, Chunk, ChunkCounts, batch_store
from pypeline.config.model import PipelineConfig
from pypeline.engines.payload import validate_payload
from pypeline.errors import PypelineError, RunTimeoutError
from pypeline.generators import iter_keys_from_config
from pypeline.runtime import Runtime
from pypeline.status import Status
from pypeline.store.tags import TAG_PATTERN

__all__ = [
    "DRIVER_TASK",
    "StepOutcome",
    "batch_status",
    "batch_document",
    "drive_step",
    "drive",
    "schedule_tick",
    "next_delay",
    "fail_batch",
    "MIN_TICK",
    "MAX_TICK",
    "MAX_LOCAL_TICK",
]

log = logging.getLogger(__name__)

#: Name of the built-in Celery task that drives batch runs in workers (pypeline.batches.tasks).
DRIVER_TASK = "pypeline.batch_driver"
#: Seconds between driver steps right after progress; the pause grows by TICK_GROWTH while nothing changes.
MIN_TICK = 0.05
TICK_GROWTH = 1.5
#: Longest pause between steps of the worker-side driver (how late a free slot may be noticed), seconds.
MAX_TICK = 2.0
#: Longest pause between steps of a foreground (CLI) driver, seconds.
MAX_LOCAL_TICK = 0.5


@dataclass(frozen=True)
class StepOutcome:
    """What one driver step did."""

    active: bool  # the batch is RUNNING and this driver still owns it: step again later
    started: int  # chunk runs started by this step
    finished: int  # chunks whose run is finished (succeeded, failed or cancelled)
    status: str | None  # batch run status after the step (None: unknown batch run)


def batch_document(record: dict[str, Any], counts: ChunkCounts) -> dict[str, Any]:
    """A stored batch run record with its driver kind and chunk progress."""
    token = record.get("driver_token") or ""
    driver = {"w": "worker", "l": "local"}.get(token[:1]) if record["status"] == Status.RUNNING.value else None
    return {
        **record,
        "driver": driver,
        "chunks_dispatched": counts.created,
        "chunks_unstarted": counts.unstarted,
        "chunks_running": counts.running,
        "chunks_succeeded": counts.succeeded,
        "chunks_failed": counts.failed,
        "chunks_cancelled": counts.cancelled,
    }


def batch_status(rt: Runtime, batch_run_id: str) -> dict[str, Any]:
    """A batch run record with its progress (keys listed, chunks dispatched/running/succeeded/failed)."""
    store = batch_store(rt)
    return batch_document(store.get(batch_run_id), store.counts(batch_run_id))


def fail_batch(rt: Runtime, batch_run_id: str, token: str, error: str) -> bool:
    """End a batch run driven by `token` as FAILED with `error` (its cursor is kept for a resume)."""
    return batch_store(rt).finish(batch_run_id, token, Status.FAILED, error)


def _start_chunk(rt: Runtime, spec: BatchSpec, batch_run_id: str, chunk: Chunk) -> None:
    """Start a chunk's pipeline run under its pre-generated id (a run that already exists is left alone)."""
    payload = spec.chunk_payload(batch_run_id, chunk.number, chunk.keys)
    try:
        rt.start_run(spec.pipeline, payload, origin=f"batch:{batch_run_id}", run_id=chunk.run_id,
                     tags=_chunk_tags(spec))
    except IntegrityError:
        rt.store.get_run(chunk.run_id)  # another driver started it first: fine if the run exists
        log.info("chunk %d of batch run %s was already started", chunk.number, batch_run_id)


def _chunk_tags(spec: BatchSpec) -> list[str]:
    """Tags of a chunk run: `batch`, and `batch:<id>` for a batch declared in config."""
    named = f"batch:{spec.batch_id}"
    return ["batch", named] if spec.batch_id and TAG_PATTERN.match(named) else ["batch"]


def _dispatch_new(rt: Runtime, store: BatchStore, record: dict[str, Any], spec: BatchSpec, pipeline: PipelineConfig,
                  token: str, free: int) -> int:
    """Record and start up to `free` new chunks after the cursor; returns how many were started."""
    batch_run_id = record["id"]
    number = record["chunks_created"]
    started = 0
    keys_iter = iter_keys_from_config(spec.generator, start_after=record["cursor"])
    try:
        for _ in range(free):
            keys = [info.key for info in islice(keys_iter, spec.chunk_size)]
            if not keys:
                store.mark_listing_done(batch_run_id, token, number)
                break
            last = len(keys) < spec.chunk_size
            chunk = Chunk(number, str(uuid.uuid4()), keys)
            validate_payload(pipeline, spec.chunk_payload(batch_run_id, number, keys), rt.settings.max_payload_bytes)
            if not store.add_chunk(batch_run_id, token, number, chunk.run_id, keys, last=last):
                break  # stopped or taken over meanwhile: the new owner continues from the cursor
            _start_chunk(rt, spec, batch_run_id, chunk)
            started += 1
            number += 1
            if last:
                break
    finally:
        getattr(keys_iter, "close", lambda: None)()
    return started


def _finish(store: BatchStore, batch_run_id: str, token: str, counts: ChunkCounts) -> None:
    bad = counts.failed + counts.cancelled
    if bad == 0:
        store.finish(batch_run_id, token, Status.SUCCESS)
        return
    sample = store.chunk_runs(batch_run_id, (Status.FAILED, Status.CANCELLED))[:5]
    error = f"{bad} of {counts.created} chunk runs did not succeed (e.g. {', '.join(sample)})"
    store.finish(batch_run_id, token, Status.FAILED, error)


def drive_step(rt: Runtime, batch_run_id: str, token: str) -> StepOutcome:
    """One step of the driver `token`: repair, dispatch up to the concurrency cap, finish when all is done.

    A bad source or payload met on the way (bucket deleted, access revoked, pipeline removed from
    config) ends the batch run FAILED with the error; its cursor is kept, so it can be resumed.
    """
    store = batch_store(rt)
    record = store.find(batch_run_id)
    if record is None:
        return StepOutcome(False, 0, 0, None)
    if record["driver_token"] != token or record["status"] != Status.RUNNING.value:
        return StepOutcome(False, 0, 0, record["status"])
    started = 0
    try:
        spec = BatchSpec.from_record(record)
        pipeline = rt.config.pipeline(spec.pipeline)
        for chunk in store.unstarted(batch_run_id):
            _start_chunk(rt, spec, batch_run_id, chunk)
            started += 1
        counts = store.counts(batch_run_id)
        free = spec.concurrency - counts.unfinished
        if free > 0 and not record["listing_done"]:
            started += _dispatch_new(rt, store, record, spec, pipeline, token, free)
    except PypelineError as exc:
        # NotFoundError/AccessDeniedError/InvalidInputError/SourceError: a problem a retry will not fix.
        log.error("batch run %s failed: %s", batch_run_id, exc)
        fail_batch(rt, batch_run_id, token, f"{type(exc).__name__}: {exc}")
        return StepOutcome(False, started, 0, Status.FAILED.value)
    counts = store.counts(batch_run_id)
    record = store.get(batch_run_id)
    if record["listing_done"] and counts.unfinished == 0 and record["driver_token"] == token:
        _finish(store, batch_run_id, token, counts)
        record = store.get(batch_run_id)
    finished = counts.succeeded + counts.failed + counts.cancelled
    active = record["status"] == Status.RUNNING.value and record["driver_token"] == token
    return StepOutcome(active, started, finished, record["status"])


def schedule_tick(
    rt: Runtime,
    batch_run_id: str,
    token: str,
    *,
    queue: str,
    delay: float,
    finished: int = -1,
    failures: int = 0,
) -> None:
    """Publish the next step of the worker-side driver, `delay` seconds from now."""
    rt.celery.send_task(
        DRIVER_TASK,
        kwargs={"batch_run_id": batch_run_id, "token": token, "queue": queue, "delay": delay,
                "finished": finished, "failures": failures},
        queue=queue,
        countdown=delay if delay > 0 else None,
        ignore_result=True,
    )


def next_delay(delay: float, progressed: bool, ceiling: float = MAX_TICK) -> float:
    """Pause before the next step: short right after progress, growing (up to `ceiling`) while idle."""
    if progressed:
        return MIN_TICK
    return min(max(delay, MIN_TICK) * TICK_GROWTH, ceiling)


def drive(
    rt: Runtime,
    batch_run_id: str,
    token: str,
    *,
    on_tick: Callable[[dict[str, Any]], None] | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Drive a batch run in this process until it ends, is stopped or is taken over; returns its record.

    `on_tick` receives the record after every step (progress display). Raises RunTimeoutError after
    `timeout` seconds; the batch run keeps its cursor and can be resumed.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    delay, finished = MIN_TICK, -1
    while True:
        outcome = drive_step(rt, batch_run_id, token)
        record = batch_status(rt, batch_run_id)
        if on_tick is not None:
            on_tick(record)
        if not outcome.active:
            return record
        delay = next_delay(delay, outcome.started > 0 or outcome.finished != finished, MAX_LOCAL_TICK)
        finished = outcome.finished
        if deadline is not None and time.monotonic() + delay > deadline:
            raise RunTimeoutError(f"batch run {batch_run_id} did not finish within {timeout} s "
                                  f"(resume it with `pypeline batch resume {batch_run_id}`)")
        time.sleep(delay)

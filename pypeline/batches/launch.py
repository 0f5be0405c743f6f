"""Starting a batch run: check the spec, probe the source, record the run and hand it to its driver.

A batch run is driven by one driver at a time, identified by the run's `driver_token`: either the
built-in worker task `pypeline.batch_driver` (see `pypeline.batches.tasks`), or a foreground loop
(`pypeline.batches.driver.drive`, used by `pypeline batch run`). Taking a run over gives it a new token.
"""
from __future__ import annotations

import uuid
from itertools import islice
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError

from pypeline.batches.driver import batch_status, fail_batch, schedule_tick
from pypeline.batches.spec import BatchSpec, check_spec
from pypeline.batches.store import batch_store
from pypeline.config.model import PipelineConfig
from pypeline.engines.payload import validate_payload
from pypeline.errors import InvalidInputError, InvalidTransitionError, PypelineError
from pypeline.generators import iter_keys_from_config
from pypeline.runtime import Runtime
from pypeline.status import Status

__all__ = ["Driver", "launch", "take_over", "hand_to_worker", "probe"]

#: Who drives a batch run: the worker-side task, or the calling process (`drive`).
Driver = Literal["worker", "local"]


def _new_token(driver: Driver) -> str:
    return ("w-" if driver == "worker" else "l-") + uuid.uuid4().hex


def probe(rt: Runtime, pipeline: PipelineConfig, spec: BatchSpec) -> None:
    """Open the listing and build the first chunk's payload: a bad source or payload fails before any write."""
    keys_iter = iter_keys_from_config(spec.generator)
    try:
        keys = [info.key for info in islice(keys_iter, spec.chunk_size)]
    finally:
        getattr(keys_iter, "close", lambda: None)()
    validate_payload(pipeline, spec.chunk_payload(str(uuid.uuid4()), 0, keys), rt.settings.max_payload_bytes)


def launch(
    rt: Runtime,
    spec: BatchSpec,
    *,
    origin: str | None = None,
    driver: Driver = "worker",
    batch_run_id: str | None = None,
) -> dict[str, Any]:
    """Check `spec`, record a RUNNING batch run and (driver="worker") hand it to the worker-side driver.

    Returns the batch run record with its progress (`batch_status`); with driver="local" the caller drives it with
    `drive(rt, id, record["driver_token"])`. Nothing is written unless the pipeline exists and the source
    can be listed. A given `batch_run_id` that already exists returns that run (taken over if RUNNING), so a
    repeated start is harmless.
    """
    spec = check_spec(spec)
    pipeline = rt.config.pipeline(spec.pipeline)
    rt.engine_for(pipeline)
    store = batch_store(rt)
    if batch_run_id is not None:
        if not isinstance(batch_run_id, str) or not 1 <= len(batch_run_id) <= 64:
            raise InvalidInputError(f"batch run id must be 1-64 characters, got {batch_run_id!r}")
        existing = store.find(batch_run_id)
        if existing is not None:
            if existing["batch_id"] != spec.batch_id or existing["pipeline_id"] != spec.pipeline:
                raise InvalidInputError(f"batch run id {batch_run_id!r} is already used by another batch run")
            if existing["status"] == Status.RUNNING.value:
                token = take_over(rt, batch_run_id, driver=driver)
                if driver == "worker":
                    hand_to_worker(rt, batch_run_id, token)
            return batch_status(rt, batch_run_id)
    probe(rt, pipeline, spec)
    run_id = batch_run_id or str(uuid.uuid4())
    token = _new_token(driver)
    try:
        store.create(run_id, {
            "batch_id": spec.batch_id, "pipeline_id": spec.pipeline, "generator": spec.generator_document(),
            "chunk_size": spec.chunk_size, "concurrency": spec.concurrency, "payload_key": spec.payload_key,
            "payload": spec.payload, "driver_token": token, "origin": origin,
        })
    except IntegrityError:
        if batch_run_id is None or store.find(batch_run_id) is None:
            raise
        return batch_status(rt, batch_run_id)  # a concurrent start with the same id won: it drives the batch
    if driver == "worker":
        hand_to_worker(rt, run_id, token)
    return batch_status(rt, run_id)


def take_over(rt: Runtime, batch_run_id: str, *, driver: Driver = "worker") -> str:
    """Make a new driver the owner of a RUNNING batch run (the old one stops at its next step); its token.

    A worker driver starts only once `hand_to_worker` publishes its first step.
    """
    token = _new_token(driver)
    if not batch_store(rt).set_driver(batch_run_id, token):
        raise InvalidTransitionError(f"batch run {batch_run_id} was stopped while resuming; resume it again")
    return token


def hand_to_worker(rt: Runtime, batch_run_id: str, token: str) -> None:
    """Publish the first step of the worker-side driver `token` (a broker error ends the batch run FAILED)."""
    queue = rt.config.pipeline(batch_store(rt).get(batch_run_id)["pipeline_id"]).queue
    try:
        schedule_tick(rt, batch_run_id, token, queue=queue, delay=0.0)
    except Exception as exc:  # noqa: BLE001 - a broker error must not leave a RUNNING batch nobody drives
        error = f"could not publish the batch driver: {type(exc).__name__}: {exc}"
        fail_batch(rt, batch_run_id, token, error)
        raise PypelineError(error + f" (batch run {batch_run_id} is FAILED; resume it later)") from exc

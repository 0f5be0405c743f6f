"""Read and control runs: show, list, wait, cancel, retry from failure, pause, resume, events."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pypeline.errors import InvalidInputError
from pypeline.runtime import Runtime
from pypeline.services.run_search import decorate_run, search

__all__ = ["get_run", "list_runs", "wait_for_run", "cancel_run", "retry_run", "pause_run", "resume_run",
           "recover_stalled", "emit_event", "run_events"]


def get_run(runtime: Runtime, run_id: str) -> dict[str, Any]:
    """A run record with its tags, node runs (each with a link to its logs) and notification attempts."""
    run = runtime.store.get_run(run_id)
    run["nodes"] = runtime.store.node_runs(run_id)
    decorate_run(runtime, run)
    return run


def list_runs(
    runtime: Runtime,
    *,
    pipeline_id: str | None = None,
    status: str | Sequence[str] | None = None,
    limit: int = 50,
    offset: int = 0,
    **filters: Any,
) -> tuple[list[dict[str, Any]], int]:
    """A page of runs (newest first) and the total count matching the filters (see run_search.run_filter)."""
    return search(runtime, pipeline_id=pipeline_id, status=status, limit=limit, offset=offset, **filters)


def wait_for_run(runtime: Runtime, run_id: str, timeout: float | None = None) -> dict[str, Any]:
    """Block until the run finishes; returns it with node runs."""
    runtime.wait(run_id, timeout)
    return get_run(runtime, run_id)


def _engine_of(runtime: Runtime, run_id: str) -> Any:
    return runtime.engine_named(runtime.store.get_run(run_id)["engine"])


def cancel_run(runtime: Runtime, run_id: str) -> dict[str, Any]:
    """Cancel a run: pending nodes never start, running ones are revoked; the run ends CANCELLED."""
    _engine_of(runtime, run_id).cancel(run_id)
    runtime.store.add_event(run_id, "cancelled")
    return runtime.store.get_run(run_id)


def retry_run(runtime: Runtime, run_id: str) -> dict[str, Any]:
    """New attempt of a failed or cancelled run, re-executing only unfinished nodes."""
    _engine_of(runtime, run_id).rerun(run_id)
    runtime.store.add_event(run_id, "retried")
    return runtime.store.get_run(run_id)


def pause_run(runtime: Runtime, run_id: str) -> dict[str, Any]:
    """Pause a running run."""
    _engine_of(runtime, run_id).pause(run_id)
    runtime.store.add_event(run_id, "paused")
    return runtime.store.get_run(run_id)


def resume_run(runtime: Runtime, run_id: str) -> dict[str, Any]:
    """Resume a paused run."""
    _engine_of(runtime, run_id).resume(run_id)
    runtime.store.add_event(run_id, "resumed")
    return runtime.store.get_run(run_id)


def recover_stalled(runtime: Runtime, older_than_s: float = 3600.0) -> dict[str, list[str]]:
    """Re-publish nodes QUEUED for longer than `older_than_s` in running runs (messages lost to a broker
    restart); returns run id -> nodes re-published. A node whose message was only slow may run twice, but
    completes once (guarded completion), so pick an age longer than your queues ever wait."""
    if older_than_s < 0:
        raise InvalidInputError("older_than_s must be >= 0")
    from datetime import timedelta

    from pypeline.store.models import utcnow

    by_run: dict[str, list[tuple[str, str]]] = {}
    for run_id, node, instance in runtime.store.stale_queued(utcnow() - timedelta(seconds=older_than_s)):
        by_run.setdefault(run_id, []).append((node, instance))
    for run_id, rows in by_run.items():
        _engine_of(runtime, run_id).republish(run_id, rows)
        runtime.store.add_event(run_id, "recovered", {"nodes": [f"{n}[{i}]" if i else n for n, i in rows]})
    return {run_id: [n for n, _ in rows] for run_id, rows in by_run.items()}


def emit_event(runtime: Runtime, run_id: str, name: str, data: Any = None, node: str | None = None) -> int:
    """Record a custom named event on a run."""
    if not name or len(name) > 200:
        raise InvalidInputError("event name must be 1-200 characters")
    return runtime.store.add_event(run_id, name, data, node=node)


def run_events(runtime: Runtime, run_id: str) -> list[dict[str, Any]]:
    """Events of a run, oldest first."""
    runtime.store.get_run(run_id)
    return runtime.store.events(run_id)

"""Read and control runs: show, list, wait, cancel, retry from failure, pause, resume, events."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pypeline.errors import InvalidInputError, InvalidTransitionError
from pypeline.reconciler import Reconciler
from pypeline.runtime import Runtime
from pypeline.services.run_search import decorate_run, search
from pypeline.status import Status
from pypeline.store import children

__all__ = ["get_run", "list_runs", "wait_for_run", "cancel_run", "retry_run", "pause_run", "resume_run",
           "recover_stalled", "emit_event", "run_events"]


def get_run(runtime: Runtime, run_id: str) -> dict[str, Any]:
    """A run record with its tags, node runs (each with a link to its logs), notification attempts, and its
    sub-pipeline links: `parent` (the run and node that started it, or None) and `children` (runs it started)."""
    run = runtime.store.get_run(run_id)
    run["nodes"] = runtime.store.node_runs(run_id)
    decorate_run(runtime, run)
    run["parent"] = children.parent_of(run)
    run["children"] = children.children_of(runtime.store.engine, run_id)
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


def recover_stalled(runtime: Runtime, older_than_s: float | None = None) -> dict[str, list[str]]:
    """Run one reconciler pass now; returns run id -> nodes re-published.

    The pass re-queues nodes whose worker's lease expired, fails runs past their `maxRunTtl`, and
    re-publishes QUEUED nodes whose message is overdue: by default those older than
    `PYPELINE_QUEUED_OVERDUE_SECONDS` whose broker queue is empty; with `older_than_s`, every QUEUED node
    older than that, whatever the queue holds (a duplicate of a message that was only slow still completes
    once). Workers run the same pass every few seconds on their own; this is for impatient humans.
    """
    if older_than_s is not None and older_than_s < 0:
        raise InvalidInputError("older_than_s must be >= 0")
    report = Reconciler(runtime).run_once(force_older_than=older_than_s)
    return report.republished()


def emit_event(runtime: Runtime, run_id: str, name: str, data: Any = None, node: str | None = None) -> int:
    """Record a custom named event on an unfinished run, optionally on one of that run's nodes."""
    if not name or len(name) > 200:
        raise InvalidInputError("event name must be 1-200 characters")
    run = runtime.store.get_run(run_id)
    if Status(run["status"]).is_terminal:
        raise InvalidTransitionError(f"run {run_id!r} is {run['status']}: finished runs take no new events")
    if node is not None:
        nodes = {row["node"] for row in runtime.store.node_runs(run_id)}
        declared = runtime.config.pipelines.get(run["pipeline_id"])
        nodes.update(declared.nodes if declared is not None else ())
        if node not in nodes:
            raise InvalidInputError(f"run {run_id!r} has no node {node!r}; its nodes: {sorted(nodes)}")
    return runtime.store.add_event(run_id, name, data, node=node)


def run_events(runtime: Runtime, run_id: str) -> list[dict[str, Any]]:
    """Events of a run, oldest first."""
    runtime.store.get_run(run_id)
    return runtime.store.events(run_id)

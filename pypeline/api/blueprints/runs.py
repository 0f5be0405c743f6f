"""Runs: list with filters and paging, show with node runs, cancel, retry-from-failure, pause/resume, events."""
from __future__ import annotations

from typing import Any

from marshmallow import RAISE

from pypeline.api.blueprint import ApiBlueprint
from pypeline.api.schemas import (
    EventBodySchema,
    EventCreatedSchema,
    EventSchema,
    LogPageSchema,
    LogQuerySchema,
    RunDetailSchema,
    RunPageSchema,
    RunQuerySchema,
    RunSchema,
)
from pypeline.http.context import runtime
from pypeline.services import logs as log_service
from pypeline.services import runs as run_service

__all__ = ["blp"]

blp = ApiBlueprint("runs", __name__, url_prefix="/runs", description="Pipeline runs: inspect and control them.")


@blp.route("/", methods=["GET"], strict_slashes=False)
@blp.arguments(RunQuerySchema, location="query", unknown=RAISE)  # a misspelt filter is a 422, not ignored
@blp.response(200, RunPageSchema)
def list_runs(query: dict[str, Any]) -> dict[str, Any]:
    """List runs, newest first, filtered by pipeline, status, origin, tags and creation time."""
    items, total = run_service.list_runs(runtime(), pipeline_id=query.get("pipeline_id"), status=query.get("status"),
                                         origin=query.get("origin"), tags=query.get("tag") or (),
                                         created_after=query.get("created_after"),
                                         created_before=query.get("created_before"),
                                         limit=query["limit"], offset=query["offset"])
    return {"items": items, "total": total, "limit": query["limit"], "offset": query["offset"]}


@blp.route("/<string:run_id>", methods=["GET"])
@blp.response(200, RunDetailSchema)
@blp.alt_response(404, description="Unknown run")
def get_run(run_id: str) -> dict[str, Any]:
    """Show a run with its node runs (status, timings, error, retries)."""
    return run_service.get_run(runtime(), run_id)


_ACTIONS = {"cancel": run_service.cancel_run, "retry": run_service.retry_run, "pause": run_service.pause_run,
            "resume": run_service.resume_run}


def _control(action: str, summary: str) -> None:
    act = _ACTIONS[action]

    def view(run_id: str) -> dict[str, Any]:
        return act(runtime(), run_id)

    view.__name__ = f"{action}_run"
    view.__doc__ = summary
    decorated = blp.alt_response(409, description="Not allowed in the run's current status")(view)
    decorated = blp.alt_response(404, description="Unknown run")(decorated)
    decorated = blp.response(200, RunSchema)(decorated)
    blp.route(f"/<string:run_id>/{action}", methods=["POST"])(decorated)


_control("cancel", "Cancel a run: pending nodes never start, running ones are revoked.")
_control("retry", "Start a new attempt of a failed or cancelled run, re-running only unfinished nodes.")
_control("pause", "Pause a run: running nodes finish, no new node starts until resume.")
_control("resume", "Resume a paused run.")


@blp.route("/<string:run_id>/events", methods=["GET"])
@blp.response(200, EventSchema(many=True))
@blp.alt_response(404, description="Unknown run")
def list_events(run_id: str) -> list[dict[str, Any]]:
    """Events recorded on a run, oldest first."""
    return run_service.run_events(runtime(), run_id)


@blp.route("/<string:run_id>/events", methods=["POST"])
@blp.arguments(EventBodySchema)
@blp.response(201, EventCreatedSchema)
@blp.alt_response(404, description="Unknown run")
def add_event(body: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Record a custom named event on a run."""
    event_id = run_service.emit_event(runtime(), run_id, body["name"], body.get("data"), node=body.get("node"))
    return {"id": event_id, "run_id": run_id}


@blp.route("/<string:run_id>/logs", methods=["GET"])
@blp.arguments(LogQuerySchema, location="query", unknown=RAISE)
@blp.response(200, LogPageSchema)
@blp.alt_response(404, description="Unknown run")
def get_logs(query: dict[str, Any], run_id: str) -> dict[str, Any]:
    """What the run's nodes logged or printed (each node attempt separately); poll with `after=next` to follow."""
    return log_service.run_logs(runtime(), run_id, node=query.get("node"), instance=query.get("instance"),
                                attempt=query.get("attempt"), after=query["after"])

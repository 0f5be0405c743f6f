"""Schedules: list, show, create, update, enable/disable, delete, fires and config sync (same service as the CLI)."""
from __future__ import annotations

from typing import Any

from flask import Response

from pypeline.api.blueprint import ApiBlueprint
from pypeline.api.schemas import (
    BackfillBodySchema,
    BackfillSchema,
    FireQuerySchema,
    FireSchema,
    ScheduleBodySchema,
    ScheduleSchema,
)
from pypeline.http.context import runtime
from pypeline.services import backfill as backfill_service
from pypeline.services import schedules as schedule_service

__all__ = ["blp"]

blp = ApiBlueprint("schedules", __name__, url_prefix="/schedules",
                   description="Schedules of declared tasks and pipelines (the original's scheduledTasks).")


@blp.route("/", methods=["GET"], strict_slashes=False)
@blp.response(200, ScheduleSchema(many=True))
def list_schedules() -> list[dict[str, Any]]:
    """List schedules (the original's GET /schedules/)."""
    return schedule_service.list_schedules(runtime())


@blp.route("/", methods=["POST"], strict_slashes=False)
@blp.arguments(ScheduleBodySchema)
@blp.response(201, ScheduleSchema)
@blp.alt_response(400, description="Refused by a rule the schema cannot state: payload not matching the "
                                   "pipeline's payloadSchema, a one-off time already past, payload too large")
@blp.alt_response(409, description="The id or the name is already used by another schedule")
@blp.alt_response(422, description="The body does not match the schema")
def create_schedule(body: dict[str, Any]) -> dict[str, Any]:
    """Create a schedule from a scheduledTasks entry (the original's POST /schedules/); first fire from now."""
    return schedule_service.create_schedule(runtime(), body)


@blp.route("/actions/sync", methods=["POST"])
@blp.response(200, description="What changed: created, updated, deleted, unchanged, skipped")
def sync_schedules() -> dict[str, Any]:
    """Load the config file's scheduledTasks into the schedule table."""
    return schedule_service.sync_config_schedules(runtime())


@blp.route("/<string:schedule_id>", methods=["GET"])
@blp.response(200, ScheduleSchema)
@blp.alt_response(404, description="Unknown schedule")
def get_schedule(schedule_id: str) -> dict[str, Any]:
    """Show a schedule with its last and next fire."""
    return schedule_service.get_schedule(runtime(), schedule_id)


@blp.route("/<string:schedule_id>", methods=["PATCH"])
@blp.arguments(ScheduleBodySchema)
@blp.response(200, ScheduleSchema)
@blp.alt_response(400, description="Invalid change")
@blp.alt_response(404, description="Unknown schedule")
@blp.alt_response(409, description="Changed concurrently; retry")
def update_schedule(body: dict[str, Any], schedule_id: str) -> dict[str, Any]:
    """Change some fields of a schedule; a new timing fires next from now."""
    return schedule_service.update_schedule(runtime(), schedule_id, body)


def _toggle(enabled: bool) -> None:
    action = "enable" if enabled else "disable"

    def view(schedule_id: str) -> dict[str, Any]:
        return schedule_service.set_enabled(runtime(), schedule_id, enabled)

    view.__name__ = f"{action}_schedule"
    view.__doc__ = f"{action.capitalize()} a schedule."
    decorated = blp.alt_response(404, description="Unknown schedule")(view)
    decorated = blp.response(200, ScheduleSchema)(decorated)
    blp.route(f"/<string:schedule_id>/{action}", methods=["POST"])(decorated)


_toggle(True)
_toggle(False)


@blp.route("/<string:schedule_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, description="Unknown schedule")
def delete_schedule(schedule_id: str) -> Response:
    """Delete a schedule."""
    schedule_service.delete_schedule(runtime(), schedule_id)
    return Response(status=204)


@blp.route("/<string:schedule_id>/fires", methods=["GET"])
@blp.arguments(FireQuerySchema, location="query")
@blp.response(200, FireSchema(many=True))
@blp.alt_response(404, description="Unknown schedule")
def list_fires(query: dict[str, Any], schedule_id: str) -> list[dict[str, Any]]:
    """The latest fires of a schedule, newest first."""
    return schedule_service.list_fires(runtime(), schedule_id, limit=query["limit"])


@blp.route("/<string:schedule_id>/backfill", methods=["POST"])
@blp.arguments(BackfillBodySchema)
@blp.response(200, BackfillSchema)
@blp.alt_response(404, description="Unknown schedule")
def backfill(body: dict[str, Any], schedule_id: str) -> dict[str, Any]:
    """Start one run per slot of a pipeline schedule in [from, to] (tagged backfill; existing slots are kept)."""
    return backfill_service.backfill(runtime(), schedule_id, body["from_"], body["to"], dry_run=body["dry_run"])

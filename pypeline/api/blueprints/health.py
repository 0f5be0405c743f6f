"""Health (no key), readiness (broker + database, no key) and Prometheus metrics (read key)."""
from __future__ import annotations

from typing import Any

from flask import Response

from pypeline.api.blueprint import ApiBlueprint
from pypeline.api.metrics import CONTENT_TYPE_LATEST, render_metrics
from pypeline.api.readiness import readiness
from pypeline.api.schemas import HealthSchema, ReadinessSchema
from pypeline.http.auth import authenticate
from pypeline.http.context import extension, runtime
from pypeline.version import __version__

__all__ = ["blp"]

blp = ApiBlueprint("health", __name__, url_prefix="", public=True,
                   description="Liveness, readiness and metrics.")


@blp.route("/health", methods=["GET"])
@blp.response(200, HealthSchema)
@blp.doc(security=[])
def health() -> dict[str, Any]:
    """Liveness: the process answers (no key needed)."""
    return {"status": "ok", "version": __version__}


@blp.route("/ready", methods=["GET"])
@blp.response(200, ReadinessSchema, description="Broker and database answer")
@blp.alt_response(503, schema=ReadinessSchema, description="A dependency does not answer")
@blp.doc(security=[])
def ready() -> tuple[dict[str, Any], int]:
    """Readiness: the broker and the run store answer (no key needed)."""
    body, ok = readiness(runtime())
    return body, 200 if ok else 503


@blp.route("/metrics", methods=["GET"])
@blp.doc(responses={"200": {"description": "Prometheus text exposition",
                            "content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics() -> Response:
    """Prometheus metrics from the run store: runs by status, node runs by status, node durations."""
    authenticate(extension().auth, "read")
    return Response(render_metrics(runtime()), mimetype=None, content_type=CONTENT_TYPE_LATEST)

"""Config: check edited config text without saving or importing anything (the dashboard's live preview)."""
from __future__ import annotations

from typing import Any

from werkzeug.exceptions import RequestEntityTooLarge

from pypeline.api.blueprint import ApiBlueprint
from pypeline.api.schemas import ConfigValidateBodySchema, ConfigValidateSchema
from pypeline.config.report import issue_record
from pypeline.http.context import runtime
from pypeline.services.config_check import check_text, pipeline_graphs
from pypeline.services.layout import layout_dag

__all__ = ["blp"]

blp = ApiBlueprint("config", __name__, url_prefix="/config",
                   description="Check config text: the same errors as `pypeline validate --format json`.")


def _layout(graph: dict[str, Any]) -> dict[str, Any]:
    layout = layout_dag(graph["levels"], [tuple(e) for e in graph["edges"]])
    return {
        "width": layout.width,
        "height": layout.height,
        "boxes": [{"name": b.name, "label": b.label, "x": b.x, "y": b.y, "w": b.w, "h": b.h} for b in layout.boxes],
        "edges": [{"source": e.source, "target": e.target, "d": e.d} for e in layout.edges],
    }


@blp.route("/validate", methods=["POST"])
@blp.arguments(ConfigValidateBodySchema)
@blp.response(200, ConfigValidateSchema)
@blp.alt_response(413, description="Text over the size limit (PYPELINE_MAX_PAYLOAD_BYTES)")
def validate(body: dict[str, Any]) -> dict[str, Any]:
    """Check config text (write scope); never imports handlers, reads the server's environment or saves."""
    text: str = body["text"]
    if len(text.encode("utf-8")) > runtime().settings.max_payload_bytes:
        raise RequestEntityTooLarge("config text is over the size limit (PYPELINE_MAX_PAYLOAD_BYTES)")
    result = check_text(text)
    graphs = [{**g, "layout": _layout(g)} for g in pipeline_graphs(result.config)]
    return {"valid": result.ok, "errors": [issue_record(i) for i in result.issues], "pipelines": graphs}

"""Pipelines: list, show, invoke (new and original routes) and the original's results route."""
from __future__ import annotations

from typing import Any

from pypeline.api.blueprint import ApiBlueprint
from pypeline.api.presenters import result_document
from pypeline.api.schemas import InvokeBodySchema, InvokeResponseSchema, PipelineSchema, ResultSchema
from pypeline.http.context import runtime
from pypeline.services import invoke as invoke_service
from pypeline.services import runs as run_service
from pypeline.services.pipelines import pipeline_document, pipeline_documents

__all__ = ["blp"]

blp = ApiBlueprint("pipelines", __name__, url_prefix="/pipelines",
                   description="Pipelines declared in config: inspect and invoke them.")


@blp.route("/", methods=["GET"], strict_slashes=False)
@blp.response(200, PipelineSchema(many=True))
def list_pipelines() -> list[dict[str, Any]]:
    """List the declared pipelines."""
    return pipeline_documents(runtime())


@blp.route("/<string:pipeline_id>", methods=["GET"])
@blp.response(200, PipelineSchema)
@blp.alt_response(404, description="Unknown pipeline")
def get_pipeline(pipeline_id: str) -> dict[str, Any]:
    """Show a pipeline: nodes, edges, levels and its config."""
    return pipeline_document(runtime(), pipeline_id)


def _invoke(pipeline_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    rt = runtime()
    run_id = invoke_service.invoke(rt, pipeline_id, body.get("chain_payload"), origin="api", tags=body.get("tags"))
    status = rt.store.run_status(run_id)
    return {"pipeline_id": pipeline_id, "status": "success", "execution_id": run_id, "run_id": run_id,
            "run_status": status.value}, 202


@blp.route("/<string:pipeline_id>/invoke", methods=["POST"])
@blp.arguments(InvokeBodySchema, required=False)
@blp.response(202, InvokeResponseSchema)
@blp.alt_response(400, description="Payload rejected (not JSON, too large, or not matching payloadSchema)")
@blp.alt_response(404, description="Unknown pipeline")
@blp.alt_response(409, description="maxActiveRuns reached and onLimit is fail")
@blp.alt_response(413, description="Body over the size limit")
def invoke(body: dict[str, Any], pipeline_id: str) -> tuple[dict[str, Any], int]:
    """Start a run of a declared pipeline; answers 202 with the run id."""
    return _invoke(pipeline_id, body)


@blp.route("/invoke/<string:pipeline_id>", methods=["POST"])
@blp.arguments(InvokeBodySchema, required=False)
@blp.response(202, InvokeResponseSchema)
@blp.alt_response(400, description="Payload rejected (not JSON, too large, or not matching payloadSchema)")
@blp.alt_response(404, description="Unknown pipeline")
@blp.alt_response(409, description="maxActiveRuns reached and onLimit is fail")
@blp.alt_response(413, description="Body over the size limit")
def invoke_legacy(body: dict[str, Any], pipeline_id: str) -> tuple[dict[str, Any], int]:
    """Start a run (the original's route: POST /pipelines/invoke/<id> with {"chain_payload": ...})."""
    return _invoke(pipeline_id, body)


@blp.route("/results/<string:execution_id>", methods=["GET"])
@blp.response(200, ResultSchema, description="The run finished (success, failed or cancelled)")
@blp.alt_response(202, schema=ResultSchema, description="The run is still pending")
@blp.alt_response(404, description="Unknown execution id")
def results(execution_id: str) -> tuple[dict[str, Any], int]:
    """The original's results route: 200 when the run finished, 202 while pending."""
    rt = runtime()
    return result_document(rt, run_service.get_run(rt, execution_id))

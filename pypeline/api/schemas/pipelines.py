"""Schemas of pipelines: the declared pipeline document, invoke body and answer, results."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from pypeline.api.schemas.common import (
    STATUSES,
    TAG_RE,
    Strict,
    nullable_str,
)

__all__ = ["InvokeBodySchema", "InvokeResponseSchema", "ResultSchema", "PipelineNodeSchema", "PipelineSchema"]


class InvokeBodySchema(Strict):
    """Body of an invoke: the original's `chain_payload` (any JSON; checked against the pipeline's payloadSchema)."""

    chain_payload = fields.Raw(allow_none=True, load_default=None,
                               metadata={"description": "Payload handed to every node as event['chain_payload']"})
    tags = fields.List(fields.String(validate=validate.Regexp(TAG_RE)), load_default=None, allow_none=True,
                       validate=validate.Length(max=20),
                       metadata={"description": "Labels of the run (searchable with GET /runs/?tag=)"})


class InvokeResponseSchema(Schema):
    """Answer of an accepted invoke (202)."""

    pipeline_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "'success' when the run was started (as the "
                                                                   "original)"})
    execution_id = fields.String(required=True, metadata={"description": "The run id (original name)"})
    run_id = fields.String(required=True)
    run_status = fields.String(required=True, validate=validate.OneOf(STATUSES))


class ResultSchema(Schema):
    """The original's results document: 200 when the run finished, 202 while it is pending."""

    execution_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["pending", "success", "failed", "cancelled"]))
    run_status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    result = fields.Raw(allow_none=True, metadata={"description": "Results of the leaf nodes, keyed by node"})
    results = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True),
                          metadata={"description": "Result of every successful node, keyed by node"})
    result_ttl = fields.Integer(required=True)
    status_message = fields.String(required=True)


class PipelineNodeSchema(Schema):
    """One node of a pipeline."""

    name = fields.String(required=True)
    handler = fields.String(required=True, metadata={
        "description": "Dotted path of the task the node's messages run; for a sub-pipeline node the built-in "
                       "pypeline.engines.subpipelines.run_subpipeline"})
    kind = fields.String(required=True, validate=validate.OneOf(["handler", "pipeline"]), metadata={
        "description": "handler: the node runs its handler; pipeline: it starts `pipeline` as a child run"})
    pipeline = fields.String(allow_none=True, metadata={
        "description": "Id of the pipeline a sub-pipeline node starts as a child run (null for a handler node)"})
    runs = fields.String(required=True, metadata={
        "description": "What the node runs, for people: 'pipeline <id>' for a sub-pipeline node, else the handler"})
    queue = fields.String(required=True)
    maxTtl = fields.Integer(required=True)
    maxRetry = fields.Integer(required=True)
    priority = fields.Integer(allow_none=True)
    upstream = fields.List(fields.String(), required=True)
    downstream = fields.List(fields.String(), required=True)


class PipelineSchema(Schema):
    """A declared pipeline: the original's fields (name, description, schemaVersion, config) plus its graph."""

    id = fields.String(required=True)
    name = fields.String(required=True)
    description = nullable_str()
    schemaVersion = fields.Integer(required=True)
    engine = fields.String(required=True)
    queue = fields.String(required=True)
    payloadSchema = fields.Dict(allow_none=True)
    config = fields.Dict(required=True, metadata={"description": "The pipeline's config as declared"})
    nodes = fields.List(fields.Nested(PipelineNodeSchema), required=True)
    edges = fields.List(fields.List(fields.String()), required=True,
                        metadata={"description": "[parent, child] pairs"})
    levels = fields.List(fields.List(fields.String()), required=True,
                         metadata={"description": "Topological generations (level k: longest upstream path k)"})

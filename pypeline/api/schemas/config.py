"""Schemas of config validation (the dashboard's live preview)."""
from __future__ import annotations

from marshmallow import Schema, fields

from pypeline.api.schemas.common import (
    Strict,
    nullable_str,
)

__all__ = ["ConfigValidateBodySchema", "ConfigIssueSchema", "ConfigGraphSchema", "ConfigValidateSchema"]


class ConfigValidateBodySchema(Strict):
    """Config text to check (the dashboard's live preview); capped at PYPELINE_MAX_PAYLOAD_BYTES."""

    text = fields.String(required=True, metadata={"description": "The YAML text of a sermos.yaml / pypeline.yaml"})


class ConfigIssueSchema(Schema):
    """One config problem, as `pypeline validate --format json` prints it."""

    file = fields.String(required=True)
    line = fields.Integer(allow_none=True, metadata={"description": "1-based; null for file-level problems"})
    column = fields.Integer(allow_none=True, metadata={"description": "1-based"})
    key_path = fields.String(required=True, metadata={"description": "Dotted key path, e.g. pipelines.p.name"})
    code = fields.String(required=True, metadata={"description": "Stable error code (docs/config-errors.md)"})
    name = fields.String(required=True, metadata={"description": "Short name of the code, e.g. unknown-key"})
    message = fields.String(required=True)
    suggestion = nullable_str(metadata={"description": "The key or value probably meant, when one is close"})


class ConfigGraphSchema(Schema):
    """A pipeline of the checked text: its DAG, and the geometry the dashboard draws it with."""

    id = fields.String(required=True)
    name = fields.String(required=True)
    nodes = fields.List(fields.String(), required=True)
    handlers = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                           metadata={"description": "node name -> handler path (not imported)"})
    subpipelines = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                               metadata={"description": "node name -> id of the pipeline it starts as a child run "
                                                        "(sub-pipeline nodes only)"})
    edges = fields.List(fields.List(fields.String()), required=True)
    levels = fields.List(fields.List(fields.String()), required=True)
    layout = fields.Dict(required=True, metadata={"description": "width, height, boxes {name, label, x, y, w, h} "
                                                                 "and edges {source, target, d (SVG path)}"})


class ConfigValidateSchema(Schema):
    """The outcome of checking config text: every issue and the DAG of every pipeline that validated."""

    valid = fields.Boolean(required=True)
    errors = fields.List(fields.Nested(ConfigIssueSchema), required=True)
    pipelines = fields.List(fields.Nested(ConfigGraphSchema), required=True)

"""Schemas of the health and readiness answers."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

__all__ = ["HealthSchema", "ReadinessSchema"]


class HealthSchema(Schema):
    """Liveness answer."""

    status = fields.String(required=True)
    version = fields.String(required=True)


class ReadinessSchema(Schema):
    """Readiness: each dependency's check."""

    status = fields.String(required=True, validate=validate.OneOf(["ready", "unavailable"]))
    checks = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True)

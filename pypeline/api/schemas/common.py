"""Pieces every resource's schemas share: strictness, field helpers, the error body and paging."""
from __future__ import annotations

import types
from typing import cast

from marshmallow import RAISE, Schema, fields, validate

from pypeline.status import Status

__all__ = ["ErrorSchema", "Strict", "PageQuery", "page_of", "nullable_str", "timestamp_field", "STATUSES",
           "TAG_RE", "PRINTABLE"]

STATUSES = [s.value for s in Status]
#: A run tag: letters, digits and `_ . : / = -`, 1-100 characters (pypeline.store.tags.TAG_PATTERN).
TAG_RE = r"^[A-Za-z0-9_.:/=-]{1,100}$"
#: No control characters (NUL cannot even be stored by PostgreSQL).
PRINTABLE = validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="must not contain control characters")


def nullable_str(**kwargs: object) -> fields.String:
    """A string field that may be null."""
    return fields.String(allow_none=True, **kwargs)  # type: ignore[arg-type]


def timestamp_field(nullable: bool = False) -> fields.String:
    """An ISO 8601 UTC timestamp field."""
    return fields.String(allow_none=nullable, metadata={"format": "date-time", "description": "ISO 8601, UTC"})


class Strict(Schema):
    """A body or query that refuses unknown fields."""

    class Meta:
        unknown = RAISE


class ErrorSchema(Schema):
    """Every error body: a stable machine code and a human message."""

    code = fields.String(required=True, metadata={"description": "Stable error code, e.g. not_found"})
    message = fields.String(required=True)
    errors = fields.Raw(metadata={"description": "Field-level validation errors, when any"})


class PageQuery(Strict):
    """Paging of a list: `limit` (1-500, default 50) and `offset`."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))


def page_of(item: type[Schema], name: str, doc: str) -> type[Schema]:
    """A response schema named `name`: a page of `item` (`items`, `total`, `limit`, `offset`)."""
    namespace = {
        "__doc__": doc,
        "__module__": item.__module__,
        "items": fields.List(fields.Nested(item), required=True),
        "total": fields.Integer(required=True),
        "limit": fields.Integer(required=True),
        "offset": fields.Integer(required=True),
    }
    # new_class goes through Schema's metaclass, which collects the declared fields.
    return cast("type[Schema]", types.new_class(name, (Schema,), exec_body=lambda ns: ns.update(namespace)))

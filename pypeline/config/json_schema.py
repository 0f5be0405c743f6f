"""The JSON Schema (draft 2020-12) of the config file, generated from the validator's key tables.

Editors (yaml-language-server in VS Code, JetBrains, Neovim) use it for completion, hover help and checks.
What a schema cannot say (DAG cycles, handler imports, pipeline ids a schedule names ...) stays with
`pypeline validate`. A whole-value `${VAR}` / `${VAR:default}` string is accepted wherever a number, boolean,
choice or dotted path is expected, because the loader resolves it before validation.
"""
from __future__ import annotations

import json
from typing import Any

from pypeline.config import schema
from pypeline.config.nesting import ROOT, Nest, nest_of
from pypeline.config.schema import Field, Table

__all__ = ["SCHEMA_ID", "build_schema", "render_schema", "table_names", "ENV_REFERENCE"]

SCHEMA_ID = "https://json-schema.org/draft/2020-12/schema"
#: The schema's own `$defs` entry for `${VAR}` strings.
ENV_REFERENCE = "envReference"
_ENV_PATTERN = r"^\s*\$\{[A-Za-z_][A-Za-z0-9_]*(:[\s\S]*)?\}\s*$"
_IGNORED_DOC = "Accepted for sermos 3 compatibility and ignored."


def table_names() -> dict[str, Table]:
    """`$defs` name -> Table, for every key table defined in pypeline.config.schema (ROOT excluded)."""
    names: dict[str, Table] = {}
    for attr, value in vars(schema).items():
        if isinstance(value, Table) and value is not ROOT:
            head, *rest = attr.lower().split("_")
            names[head + "".join(part.title() for part in rest)] = value
    return names


def _ref(table: Table) -> dict[str, Any]:
    for name, candidate in table_names().items():
        if candidate is table:
            return {"$ref": f"#/$defs/{name}"}
    raise KeyError(table.where)


def _number_bounds(spec: Field, out: dict[str, Any]) -> None:
    cast = int if spec.kind == "int" else float
    if spec.ge is not None:
        out["minimum"] = cast(spec.ge)
    if spec.gt is not None:
        out["exclusiveMinimum"] = cast(spec.gt)
    if spec.le is not None:
        out["maximum"] = cast(spec.le)


def _leaf(spec: Field) -> tuple[dict[str, Any], bool]:
    """(schema of a plain value, whether a `${VAR}` string may stand in for it)."""
    kind = spec.kind
    out: dict[str, Any]
    if kind == "str":
        out = {"type": "string"}
        if spec.choices is not None:
            out["enum"] = list(spec.choices)
        if spec.pattern is not None:
            # the loader strips surrounding whitespace before matching
            out["pattern"] = r"^\s*(?:" + spec.pattern.removeprefix("^").removesuffix("$") + r")\s*$"
        elif not spec.allow_empty and spec.choices is None:
            out["pattern"] = r"\S"
        return out, spec.choices is not None or spec.pattern is not None
    if kind in ("int", "number"):
        out = {"type": "integer" if kind == "int" else "number"}
        _number_bounds(spec, out)
        return out, True
    if kind == "bool":
        return {"type": "boolean"}, True
    if kind == "mapping":
        return {"type": "object"}, False
    if kind == "list":
        return {"type": "array"}, False
    if kind == "cron":
        return {"type": ["string", "integer"]}, False
    if kind == "timestamp":
        return {"type": "string", "description": "An ISO 8601 date or timestamp."}, False
    if kind == "strings":
        return {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}, False
    return {}, False  # "any"


def _nested(nest: Nest) -> dict[str, Any]:
    if not nest.tables:  # dagAdjacency: node -> list of child node names (null for none)
        children = {"type": ["array", "null"], "items": {"type": "string", "pattern": r"\S"}, "uniqueItems": True}
        return {"type": "object", "additionalProperties": children}
    if len(nest.tables) > 1:
        inner: dict[str, Any] = {"anyOf": [_ref(t) for t in nest.tables]}
    else:
        inner = _ref(nest.tables[0])
    if nest.how == "object":
        return inner
    if nest.how == "values":
        return {"type": "object", "additionalProperties": inner}
    item = {"anyOf": [inner, {"type": "string", "pattern": r"\S"}]} if nest.bare_strings else inner
    return {"type": "array", "items": item}


def _field(table: Table, key: str, spec: Field) -> dict[str, Any]:
    nest = nest_of(table, key)
    if nest is not None:
        out = _nested(nest)
    else:
        out, env_ok = _leaf(spec)
        if env_ok:
            out = {"anyOf": [out, {"$ref": f"#/$defs/{ENV_REFERENCE}"}]}
    if spec.doc:
        out = {"description": spec.doc, **out}
    if spec.default is not None:
        out["default"] = spec.default
    return out


def _selector_rules(table: Table) -> list[dict[str, Any]]:
    """if/then rules: a selector key (scheduleType) picks which alternative table a nested value must match."""
    rules = []
    for key in table.fields:
        nest = nest_of(table, key)
        if nest is None or nest.selector is None:
            continue
        for value, alternative in zip(nest.selector_values, nest.tables, strict=True):
            rules.append({
                "if": {"properties": {nest.selector: {"const": value}}, "required": [nest.selector]},
                "then": {"properties": {key: _ref(alternative)}},
            })
    return rules


def _generator_rules() -> list[dict[str, Any]]:
    """if/then rules: each generator type requires its key and forbids the other types' keys."""
    rules = []
    for kind, (own, required_key) in schema.GENERATOR_KEYS_BY_TYPE.items():
        foreign = sorted(set().union(*(keys for k, (keys, _) in schema.GENERATOR_KEYS_BY_TYPE.items() if k != kind))
                         - own)
        rules.append({
            "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
            "then": {"required": [required_key], "properties": {key: False for key in foreign}},
        })
    return rules


def _table(table: Table) -> dict[str, Any]:
    properties = {key: _field(table, key, spec) for key, spec in table.fields.items()}
    for key in sorted(table.ignored):
        properties[key] = {"description": _IGNORED_DOC, "deprecated": True}
    out: dict[str, Any] = {"title": table.where[0].upper() + table.where[1:], "type": "object",
                           "properties": properties, "additionalProperties": False}
    required = [key for key, spec in table.fields.items() if spec.required]
    if required:
        out["required"] = required
    if table.where == schema.PIPELINE_CONFIG.where:
        out["properties"]["taskDefinitions"]["minProperties"] = 1
    if table is schema.TASK_DEFINITION:  # a node runs a handler or a sub-pipeline (pypeline.config.subpipelines)
        out["oneOf"] = [{"required": ["handler"]}, {"required": ["pipeline"]}]
    rules = _selector_rules(table) + (_generator_rules() if table is schema.GENERATOR else [])
    if rules:
        out["allOf"] = rules
    return out


def build_schema() -> dict[str, Any]:
    """The whole config's JSON Schema as a dict."""
    root = _table(ROOT)
    root["title"] = "Pypeline config (sermos.yaml / pypeline.yaml)"
    root["description"] = ("Pipelines, schedules, batches and services run by Pypeline; generated by "
                           "`pypeline schema` from the validator's key tables.")
    defs: dict[str, Any] = {name: _table(table) for name, table in sorted(table_names().items())}
    defs[ENV_REFERENCE] = {
        "description": "A `${VAR}` or `${VAR:default}` environment reference, resolved when the file is loaded.",
        "type": "string",
        "pattern": _ENV_PATTERN,
    }
    return {"$schema": SCHEMA_ID, **root, "$defs": defs}


def render_schema() -> str:
    """The schema as the stable JSON text committed at schema/pypeline.schema.json."""
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"

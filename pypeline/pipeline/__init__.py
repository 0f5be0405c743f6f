"""Python API: build pipelines without YAML; they are validated and run exactly like sermos.yaml pipelines.

    from pypeline.pipeline import Pipeline, runtime_for

    orders = (
        Pipeline("orders", max_retry=0)
        .add_node("load", handler=load_orders, split=True, split_concurrency=4)
        .add_node("price", handler="myproject.handlers.price_order")
        .add_node("totals", handler=totals_by_customer, join_key="customer.id")
        .chain("load", "price", "totals")
    )
    rt = runtime_for([orders])                       # a Runtime, as from a config file
    with rt.embedded_worker():                       # or real workers: see below
        run_id = invoke(rt, "orders", {"count": 10})  # pypeline.services.invoke.invoke
        record = rt.wait(run_id, timeout=60)

Workers import the same pipelines from a YAML file emitted by this API (one config shared by workers,
API and beat): `python -m pypeline.pipeline myproject.pipes:pipelines -o pipelines.yaml`, then
`pypeline worker pipelines.yaml`. Handlers given as functions become their dotted import path, so they
must be defined at module level in an importable module.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from itertools import pairwise
from typing import Any

import yaml

from pypeline.config.handlers import import_handler
from pypeline.config.loader import load_config_text
from pypeline.config.model import PipelineConfig, PypelineConfig
from pypeline.config.schema import METADATA, TASK_DEFINITION, did_you_mean
from pypeline.dag import PipelineDag
from pypeline.engines.dataflow import Dataflow
from pypeline.errors import InvalidInputError, PypelineError
from pypeline.formats import snake_case
from pypeline.runtime import Runtime
from pypeline.settings import Settings

__all__ = ["Pipeline", "handler_path", "build_config", "to_yaml", "runtime_for", "load_pipelines", "main"]


#: Python keyword -> sermos.yaml key, for node options and pipeline metadata.
NODE_OPTIONS = {snake_case(k): k for k in TASK_DEFINITION.fields if k != "handler"}
PIPELINE_OPTIONS = {snake_case(k): k for k in METADATA.fields}


def _options(given: Mapping[str, Any], allowed: Mapping[str, str], what: str) -> dict[str, Any]:
    """Map snake_case (or the YAML camelCase) keywords to YAML keys; unknown ones are an error."""
    out: dict[str, Any] = {}
    yaml_keys = set(allowed.values())
    for key, value in given.items():
        if key in allowed:
            out[allowed[key]] = value
        elif key in yaml_keys:
            out[key] = value
        else:
            hint = did_you_mean(key, list(allowed))
            raise InvalidInputError(f"unknown {what} option {key!r}{hint}; valid: {', '.join(sorted(allowed))}")
    return out


def handler_path(handler: str | Callable[..., Any]) -> str:
    """The dotted import path of a handler; a function must be importable at module level by that path."""
    if isinstance(handler, str):
        return handler.strip()
    if not callable(handler):
        raise InvalidInputError(f"a handler must be a function or a dotted path, got {type(handler).__name__}")
    module = getattr(handler, "__module__", None)
    qualname = getattr(handler, "__qualname__", None) or getattr(handler, "__name__", None)
    if not module or not qualname or "<" in qualname:
        raise InvalidInputError(f"handler {handler!r} is not defined at module level (lambda or nested function); "
                                "workers import handlers by dotted path")
    if module == "__main__":
        raise InvalidInputError(f"handler {qualname!r} is defined in __main__, which workers cannot import; "
                                "move it to a module")
    path = f"{module}.{qualname}"
    try:
        found = import_handler(path)
    except Exception as exc:  # noqa: BLE001 - every import problem becomes one clear message
        raise InvalidInputError(f"handler {path!r} cannot be imported: {type(exc).__name__}: {exc}") from exc
    if found is not handler and getattr(found, "__wrapped__", None) is not handler:
        raise InvalidInputError(f"handler {path!r} does not resolve to the function given (shadowed or decorated)")
    return path


class Pipeline:
    """A pipeline built in Python: nodes, edges and metadata with the same keys as a sermos.yaml entry."""

    def __init__(
        self,
        id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        payload_schema: Mapping[str, Any] | None = None,
        **metadata: Any,
    ) -> None:
        if not isinstance(id, str) or not id.strip():
            raise InvalidInputError("a pipeline id must be a non-empty string")
        self.id = id
        self.name = name or id
        self.description = description
        self.payload_schema = dict(payload_schema) if payload_schema is not None else None
        self.metadata = _options(metadata, PIPELINE_OPTIONS, "pipeline")
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: dict[str, list[str]] = {}

    def add_node(self, name: str, handler: str | Callable[..., Any], **options: Any) -> Pipeline:
        """Add a node; options are the taskDefinitions keys in snake_case (`max_ttl`, `split`, `join_key`, ...)."""
        if name in self.nodes:
            raise InvalidInputError(f"pipeline {self.id!r} already has a node {name!r}")
        self.nodes[name] = {"handler": handler_path(handler), **_options(options, NODE_OPTIONS, "node")}
        return self

    def add_edge(self, parent: str, child: str) -> Pipeline:
        """Make `child` run after `parent` (and receive its result)."""
        children = self.edges.setdefault(parent, [])
        if child not in children:
            children.append(child)
        return self

    def chain(self, *names: str) -> Pipeline:
        """Add edges `names[0] -> names[1] -> ...`."""
        for parent, child in pairwise(names):
            self.add_edge(parent, child)
        return self

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any], id: str | None = None) -> Pipeline:
        """A pipeline from a sermos.yaml `pipelines.<id>` entry (handlers may be functions); id defaults to name."""
        if not isinstance(entry, Mapping):
            raise InvalidInputError(f"a pipeline entry must be a mapping, got {type(entry).__name__}")
        entry = copy.deepcopy(dict(entry))
        config = entry.get("config") or {}
        pid = id or entry.get("name")
        if not isinstance(pid, str) or not pid:
            raise InvalidInputError("Pipeline.from_dict needs an id, or a 'name' in the entry")
        pipe = cls(pid, name=entry.get("name") or pid, description=entry.get("description"),
                   payload_schema=config.get("payloadSchema"))
        pipe.metadata = dict(config.get("metadata") or {})
        for node, definition in (config.get("taskDefinitions") or {}).items():
            definition = dict(definition) if isinstance(definition, Mapping) else definition
            if isinstance(definition, dict) and "handler" in definition and callable(definition["handler"]):
                definition["handler"] = handler_path(definition["handler"])
            pipe.nodes[node] = definition
        pipe.edges = {parent: list(children) if isinstance(children, list) else children
                      for parent, children in (config.get("dagAdjacency") or {}).items()}
        return pipe

    def to_dict(self) -> dict[str, Any]:
        """The sermos.yaml `pipelines.<id>` entry of this pipeline."""
        config: dict[str, Any] = {}
        if self.metadata:
            config["metadata"] = dict(self.metadata)
        config["dagAdjacency"] = {p: list(c) if isinstance(c, list) else c for p, c in self.edges.items()}
        config["taskDefinitions"] = copy.deepcopy(self.nodes)
        if self.payload_schema is not None:
            config["payloadSchema"] = copy.deepcopy(self.payload_schema)
        entry: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            entry["description"] = self.description
        entry.update(schemaVersion=1, config=config)
        return entry

    def to_config(self, *, check_handlers: bool = True) -> PipelineConfig:
        """The validated, typed config of this pipeline (ConfigError / InvalidInputError when invalid)."""
        return build_config([self], check_handlers=check_handlers).pipeline(self.id)

    def __repr__(self) -> str:
        return f"Pipeline({self.id!r}, nodes={list(self.nodes)})"


PipelineLike = Pipeline | Mapping[str, Any]


def _raw(pipelines: Iterable[PipelineLike], services: list[dict[str, Any]] | None) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for item in pipelines:
        pipe = item if isinstance(item, Pipeline) else Pipeline.from_dict(item)
        if pipe.id in entries:
            raise InvalidInputError(f"two pipelines have the id {pipe.id!r}")
        entries[pipe.id] = pipe.to_dict()
    raw: dict[str, Any] = {"pipelines": entries}
    if services:
        raw["serviceConfig"] = services
    return raw


def build_config(
    pipelines: Iterable[PipelineLike],
    *,
    services: list[dict[str, Any]] | None = None,
    check_handlers: bool = True,
    filename: str = "<python pipelines>",
) -> PypelineConfig:
    """A validated PypelineConfig from Python pipelines (same validator as files, plus the dataflow check)."""
    text = json.dumps(_raw(pipelines, services), indent=1)  # JSON is YAML: one validator for both
    config = load_config_text(text, filename, check_handlers=check_handlers)
    for pipe in config.pipelines.values():
        Dataflow(PipelineDag(pipe))
    return config


def to_yaml(pipelines: Iterable[PipelineLike], *, services: list[dict[str, Any]] | None = None) -> str:
    """A sermos.yaml document of the given pipelines (validated first), for workers to load."""
    items = list(pipelines)
    build_config(items, services=services)
    raw = _raw(items, services)
    return "# Generated by pypeline.pipeline.to_yaml\n" + yaml.safe_dump(raw, sort_keys=False)


def runtime_for(pipelines: Iterable[PipelineLike], settings: Settings | None = None, **kwargs: Any) -> Runtime:
    """A Runtime (Celery app, store, engines) for Python pipelines, as `Runtime.from_path` is for a file."""
    return Runtime(build_config(pipelines), settings, **kwargs)


def load_pipelines(spec: str) -> list[Pipeline]:
    """Import `package.module:attribute` (a Pipeline, a list of them, or a function returning either)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidInputError(f"expected 'package.module:attribute', got {spec!r}")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInputError(f"cannot load pipelines from {spec!r}: {type(exc).__name__}: {exc}") from exc
    if callable(value) and not isinstance(value, Pipeline):
        try:
            value = value()
        except Exception as exc:  # noqa: BLE001 - user code: report what went wrong, with the spec
            raise InvalidInputError(f"calling {spec!r} failed: {type(exc).__name__}: {exc}") from exc
    items = [value] if isinstance(value, Pipeline) else list(value) if isinstance(value, (list, tuple)) else None
    if not items or not all(isinstance(p, Pipeline) for p in items):
        raise InvalidInputError(f"{spec!r} is not a Pipeline or a list of Pipelines")
    return items


def main(argv: list[str] | None = None) -> int:
    """`python -m pypeline.pipeline pkg.mod:attr [-o FILE]`: write the pipelines as a sermos.yaml."""
    parser = argparse.ArgumentParser(prog="python -m pypeline.pipeline", description=main.__doc__)
    parser.add_argument("spec", help="package.module:attribute holding a Pipeline or a list of Pipelines")
    parser.add_argument("-o", "--output", help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    try:
        text = to_yaml(load_pipelines(args.spec))
    except PypelineError as exc:  # a CLI prints the problem, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


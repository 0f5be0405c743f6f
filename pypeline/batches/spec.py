"""What a batch run does (BatchSpec): built from a `batches` entry plus overrides, or from ad hoc arguments.

A spec is checked completely here (numbers, payload key, generator options); whether the source can
actually be listed is checked by `pypeline.batches.launch`, which opens the listing before writing anything.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from pypeline.config.batch_defaults import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_KEY_FIELD,
    DEFAULT_MAX_IN_FLIGHT,
    GENERATOR_FILTER_KEYS,
)
from pypeline.config.model import GeneratorConfig, PypelineConfig
from pypeline.errors import InvalidInputError, NotFoundError
from pypeline.formats import snake_case
from pypeline.generators import location_of

__all__ = [
    "BatchSpec",
    "spec_from_config",
    "adhoc_spec",
    "check_spec",
    "RESERVED_PAYLOAD_KEYS",
    "OVERRIDE_KEYS",
    "FILTER_OPTIONS",
    "MAX_CHUNK_SIZE",
    "MAX_CONCURRENCY",
]

#: Keys every chunk payload carries besides `payload_key`; a payload key may not be one of them.
RESERVED_PAYLOAD_KEYS = ("batch_run_id", "batch_id", "chunk", "batch_source")
#: Largest chunk: a chunk's keys are held in memory and stored in one row and one payload.
MAX_CHUNK_SIZE = 100_000
#: Most chunk runs a batch may have unfinished at once.
MAX_CONCURRENCY = 10_000
#: Generator options an override may change: filters only, never the location (bucket, path, endpoint),
#: so an HTTP caller cannot point a declared batch at another bucket or folder.
FILTER_OPTIONS = GENERATOR_FILTER_KEYS
#: Keys accepted in `overrides` (YAML camelCase or snake_case).
OVERRIDE_KEYS = frozenset({"chunkSize", "chunk_size", "concurrency", "payloadKey", "payload_key", "payload",
                           "generator"})


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass(frozen=True)
class BatchSpec:
    """A checked batch definition: source, pipeline, chunking and the extra payload of every chunk."""

    pipeline: str
    generator: GeneratorConfig
    chunk_size: int = DEFAULT_CHUNK_SIZE
    concurrency: int = DEFAULT_MAX_IN_FLIGHT
    payload_key: str = DEFAULT_KEY_FIELD
    payload: dict[str, Any] = field(default_factory=dict)
    #: The `batches.<id>` entry, None for an ad hoc batch.
    batch_id: str | None = None

    def generator_document(self) -> dict[str, Any]:
        """The generator as JSON-ready data (stored with the batch run, so a resume lists the same source)."""
        return {"type": self.generator.type,
                "options": {k: _jsonable(v) for k, v in sorted(self.generator.options.items())}}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> BatchSpec:
        """The spec a stored batch run was started with."""
        gen = record["generator"]
        return cls(pipeline=record["pipeline_id"], generator=GeneratorConfig(gen["type"], dict(gen["options"])),
                   chunk_size=record["chunk_size"], concurrency=record["concurrency"],
                   payload_key=record["payload_key"], payload=dict(record.get("payload") or {}),
                   batch_id=record.get("batch_id"))

    @property
    def source(self) -> dict[str, Any]:
        """Where the keys come from, for handlers: {"type": "local", "path": p} or {"type": "s3", "bucket": b, ...}."""
        if self.generator.type != "s3":
            local: dict[str, Any] = {"type": self.generator.type, "path": location_of(self.generator)}
            if self.generator.options.get("follow_symlinks"):
                local["follow_symlinks"] = True  # readers may then follow links out of the folder too
            return local
        source = {"type": "s3", "bucket": location_of(self.generator)}
        for name in ("endpoint_url", "region"):  # what a handler needs to build the same S3 client
            if self.generator.options.get(name):
                source[name] = str(self.generator.options[name])
        return source

    def chunk_payload(self, batch_run_id: str, number: int, keys: list[str]) -> dict[str, Any]:
        """The chain_payload of chunk `number`: the extra payload plus the keys and where they come from."""
        return {**self.payload, self.payload_key: keys, "batch_run_id": batch_run_id, "batch_id": self.batch_id,
                "chunk": number, "batch_source": self.source}


def _positive(name: str, value: Any, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise InvalidInputError(f"{name} must be an integer from 1 to {limit}, got {value!r}")
    return value


def check_spec(spec: BatchSpec) -> BatchSpec:
    """Raise InvalidInputError unless every field of `spec` is usable; returns it."""
    _positive("chunk size", spec.chunk_size, MAX_CHUNK_SIZE)
    _positive("concurrency", spec.concurrency, MAX_CONCURRENCY)
    if not isinstance(spec.payload_key, str) or not spec.payload_key.strip():
        raise InvalidInputError(f"payload key must be a non-empty string, got {spec.payload_key!r}")
    if spec.payload_key in RESERVED_PAYLOAD_KEYS:
        raise InvalidInputError(f"payload key {spec.payload_key!r} is reserved; "
                                f"chunk payloads already carry {list(RESERVED_PAYLOAD_KEYS)}")
    if not isinstance(spec.payload, dict):
        raise InvalidInputError(f"batch payload must be a JSON object, got {type(spec.payload).__name__}")
    location_of(spec.generator)  # unknown type/options, missing bucket or path
    return spec


def _absolute_local(generator: GeneratorConfig, base: str) -> GeneratorConfig:
    """A local generator whose path is absolute (relative paths are taken from `base`)."""
    if generator.type != "local":
        return generator
    path = generator.options.get("path")
    if not isinstance(path, str) or not path:
        return generator  # reported by check_spec
    full = os.path.abspath(os.path.join(base, os.path.expanduser(path)))
    return GeneratorConfig(generator.type, {**generator.options, "path": full})


def _generator_overrides(generator: GeneratorConfig, changes: Any) -> GeneratorConfig:
    if not isinstance(changes, dict):
        raise InvalidInputError(f"generator overrides must be a mapping, got {type(changes).__name__}")
    options = dict(generator.options)
    for key, value in changes.items():
        name = snake_case(str(key))
        if name not in FILTER_OPTIONS:
            raise InvalidInputError(f"generator option {key!r} cannot be overridden; allowed: "
                                    f"{sorted(FILTER_OPTIONS)} (the source itself is fixed by config)")
        if value is None:
            options.pop(name, None)
        else:
            options[name] = value
    return GeneratorConfig(generator.type, options)


def _config_dir(config: PypelineConfig) -> str:
    path = config.path
    if path and os.path.isfile(path):
        return os.path.dirname(os.path.abspath(path))
    return os.getcwd()


def spec_from_config(config: PypelineConfig, batch_id: str, overrides: dict[str, Any] | None = None) -> BatchSpec:
    """The spec of `batches.<batch_id>` with `overrides` applied; NotFoundError / InvalidInputError."""
    if not isinstance(batch_id, str) or batch_id not in config.batches:
        raise NotFoundError(f"unknown batch {batch_id!r}; declared: {sorted(config.batches)}")
    entry = config.batches[batch_id]
    spec = BatchSpec(pipeline=entry.pipeline, generator=_absolute_local(entry.generator, _config_dir(config)),
                     chunk_size=entry.chunk_size, concurrency=entry.concurrency, payload_key=entry.payload_key,
                     batch_id=batch_id)
    if overrides is not None:
        if not isinstance(overrides, dict):
            raise InvalidInputError(f"batch overrides must be a JSON object, got {type(overrides).__name__}")
        unknown = sorted(str(k) for k in set(overrides) - OVERRIDE_KEYS)
        if unknown:
            raise InvalidInputError(f"unknown batch override(s) {unknown}; allowed: {sorted(OVERRIDE_KEYS)}")
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            name = snake_case(key)
            if name == "generator":
                changes["generator"] = _generator_overrides(spec.generator, value)
            elif name == "payload":
                changes["payload"] = {} if value is None else value
            elif value is not None:
                changes[name] = value
        spec = replace(spec, **changes)
    return check_spec(spec)


def adhoc_spec(
    pipeline: str,
    generator: GeneratorConfig,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    concurrency: int = DEFAULT_MAX_IN_FLIGHT,
    payload_key: str = DEFAULT_KEY_FIELD,
    payload: dict[str, Any] | None = None,
) -> BatchSpec:
    """A spec not declared in config (CLI `--local`/`--s3`); a relative local path is taken from the cwd."""
    spec = BatchSpec(pipeline=pipeline, generator=_absolute_local(generator, os.getcwd()), chunk_size=chunk_size,
                     concurrency=concurrency, payload_key=payload_key, payload={} if payload is None else payload)
    return check_spec(spec)

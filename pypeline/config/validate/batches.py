"""Validation of `batches` entries and their key generators."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

from pypeline.config import codes, schema
from pypeline.config.batch_defaults import DEFAULT_CHUNK_SIZE, DEFAULT_KEY_FIELD, DEFAULT_MAX_IN_FLIGHT
from pypeline.config.fields import check_mapping, describe, hint, snake_case
from pypeline.config.model import BatchConfig, GeneratorConfig
from pypeline.config.validate.base import ValidatorBase
from pypeline.config.yaml_source import join_path

__all__ = ["BatchChecks"]


class BatchChecks(ValidatorBase):
    """Checks of the `batches` section."""

    def _batches(self, raw: dict[Any, Any], pipeline_ids: set[Any]) -> dict[str, BatchConfig]:
        batches: dict[str, BatchConfig] = {}
        for bid, item in raw.items():
            path = join_path("batches", bid)
            if not isinstance(bid, str):
                self.error(path, f"batch ids must be strings, got {describe(bid)}", key=True, code=codes.ID_NOT_STRING)
                continue
            entry = check_mapping(item, schema.BATCH, path, self.rep)
            if entry is None:
                continue
            pipeline = entry.get("pipeline")
            if pipeline is not None and pipeline not in pipeline_ids:
                names = {p for p in pipeline_ids if isinstance(p, str)}
                text, match = hint(pipeline, names)
                self.error(join_path(path, "pipeline"), f"pipeline '{pipeline}' is not declared in pipelines{text}",
                           code=codes.UNKNOWN_PIPELINE, suggestion=match)
                continue
            generator = self._generator(entry.get("generator"), join_path(path, "generator"))
            if pipeline is None or generator is None:
                continue
            batches[bid] = BatchConfig(
                id=bid,
                pipeline=pipeline,
                generator=generator,
                chunk_size=entry.get("chunkSize", DEFAULT_CHUNK_SIZE),
                concurrency=entry.get("concurrency", DEFAULT_MAX_IN_FLIGHT),
                payload_key=entry.get("payloadKey", DEFAULT_KEY_FIELD),
            )
        return batches

    def _generator(self, raw: Any, path: str) -> GeneratorConfig | None:
        if raw is None:
            return None  # missing: already reported as a missing required key
        entry = check_mapping(raw, schema.GENERATOR, path, self.rep)
        if entry is None or "type" not in entry:
            return None
        kind = entry["type"]
        ok = True
        own_keys, required_key = schema.GENERATOR_KEYS_BY_TYPE[kind]
        for other, (other_keys, _) in schema.GENERATOR_KEYS_BY_TYPE.items():
            if other == kind:
                continue
            for key in sorted((other_keys & set(entry)) - own_keys):
                self.error(join_path(path, key), f"'{key}' is not valid for generator type '{kind}' "
                                                 f"(it belongs to type '{other}')", key=True, code=codes.GENERATOR_KEY)
                ok = False
        if required_key not in entry and join_path(path, required_key) not in self.rep.source.failed:
            if required_key not in raw:
                self.error(path, f"generator type '{kind}' needs '{required_key}'",
                           key=True, code=codes.GENERATOR_NEEDS)
            ok = False
        if "regex" in entry:
            try:
                re.compile(entry["regex"])
            except re.error as exc:
                self.error(join_path(path, "regex"), f"'regex' is not a valid regular expression: {exc}",
                           code=codes.BAD_REGEX)
                ok = False
        if "minSize" in entry and "maxSize" in entry and entry["minSize"] > entry["maxSize"]:
            self.error(join_path(path, "maxSize"), f"'maxSize' ({entry['maxSize']}) is smaller than 'minSize' "
                                                   f"({entry['minSize']})", code=codes.SIZES_REVERSED)
            ok = False
        if "modifiedSince" in entry:
            since = _as_datetime(entry["modifiedSince"])
            if since is None:
                self.error(join_path(path, "modifiedSince"), "'modifiedSince' must be an ISO 8601 date or "
                                                             f"timestamp, got {describe(entry['modifiedSince'])}",
                           code=codes.BAD_TIMESTAMP)
                ok = False
            entry["modifiedSince"] = since
        if not ok:
            return None
        options = {snake_case(key): value for key, value in entry.items() if key != "type"}
        return GeneratorConfig(type=kind, options=options)


def _as_datetime(value: Any) -> datetime | None:
    """A timezone-aware datetime (naive values are UTC) from a YAML timestamp, date or ISO string."""
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime(value.year, value.month, value.day)
    else:
        try:
            result = datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
    return result if result.tzinfo else result.replace(tzinfo=timezone.utc)

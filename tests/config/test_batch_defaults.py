"""Batch defaults and generator filter names have one home (config/batch_defaults.py) that every layer reads."""
from __future__ import annotations

from dataclasses import fields

from pypeline.batches.spec import FILTER_OPTIONS, BatchSpec
from pypeline.config.batch_defaults import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_KEY_FIELD,
    DEFAULT_MAX_IN_FLIGHT,
    GENERATOR_FILTER_KEYS,
)
from pypeline.config.model import BatchConfig
from pypeline.config.schema import BATCH, GENERATOR, GENERATOR_KEYS_BY_TYPE, snake_case
from pypeline.generators import GENERATOR_OPTIONS


def _defaults(cls: type) -> dict[str, object]:
    return {f.name: f.default for f in fields(cls)}


def test_batch_defaults_are_the_same_in_config_table_model_and_spec() -> None:
    expected = {"chunk_size": DEFAULT_CHUNK_SIZE, "concurrency": DEFAULT_MAX_IN_FLIGHT,
                "payload_key": DEFAULT_KEY_FIELD}
    assert (DEFAULT_CHUNK_SIZE, DEFAULT_MAX_IN_FLIGHT, DEFAULT_KEY_FIELD) == (100, 4, "keys")
    table = {snake_case(key): BATCH.fields[key].default for key in ("chunkSize", "concurrency", "payloadKey")}
    assert table == expected
    for cls in (BatchConfig, BatchSpec):
        assert {k: v for k, v in _defaults(cls).items() if k in expected} == expected, cls


def test_generator_filter_names_match_the_config_table_and_the_generators() -> None:
    typed = set().union(*(keys for keys, _ in GENERATOR_KEYS_BY_TYPE.values()))
    table_filters = {snake_case(key) for key in set(GENERATOR.fields) - typed - {"type"}}
    assert table_filters == GENERATOR_FILTER_KEYS
    assert FILTER_OPTIONS == GENERATOR_FILTER_KEYS
    for kind, options in GENERATOR_OPTIONS.items():
        assert GENERATOR_FILTER_KEYS <= options, kind
        location = {snake_case(key) for key in GENERATOR_KEYS_BY_TYPE[kind][0]}
        assert options - GENERATOR_FILTER_KEYS == location, kind

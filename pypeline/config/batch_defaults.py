"""The one home of batch defaults and of the generator filter option names (config, batches and generators use them)."""
from __future__ import annotations

__all__ = ["DEFAULT_CHUNK_SIZE", "DEFAULT_MAX_IN_FLIGHT", "DEFAULT_KEY_FIELD", "GENERATOR_FILTER_KEYS"]

#: Keys per pipeline run of a batch (`chunkSize`).
DEFAULT_CHUNK_SIZE = 100
#: Pipeline runs of one batch in flight at once (`concurrency`).
DEFAULT_MAX_IN_FLIGHT = 4
#: Payload key that holds a chunk's list of keys (`payloadKey`).
DEFAULT_KEY_FIELD = "keys"
#: Generator options that filter the listed keys (snake_case, as in GeneratorConfig.options); every generator type
#: takes them, and a batch override may change only these (never the location: bucket, path, endpoint).
GENERATOR_FILTER_KEYS: frozenset[str] = frozenset({
    "prefix", "include", "exclude", "regex", "min_size", "max_size", "modified_since", "recursive",
    "skip_common_hidden",
})

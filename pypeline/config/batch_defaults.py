"""Defaults of a batch (`batches` entry, ad hoc CLI batch, HTTP overrides): one home for each value."""
from __future__ import annotations

__all__ = ["DEFAULT_CHUNK_SIZE", "DEFAULT_MAX_IN_FLIGHT", "DEFAULT_KEY_FIELD"]

#: Keys per chunk, i.e. per pipeline run (`chunkSize`).
DEFAULT_CHUNK_SIZE = 100
#: Most chunk runs of one batch unfinished at once (`concurrency`).
DEFAULT_MAX_IN_FLIGHT = 4
#: The chain_payload key holding a chunk's keys (`payloadKey`).
DEFAULT_KEY_FIELD = "keys"

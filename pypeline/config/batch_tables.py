"""Key tables of the config file's `batches` entries and their key generators."""
from __future__ import annotations

from pypeline.config.batch_defaults import DEFAULT_CHUNK_SIZE, DEFAULT_KEY_FIELD, DEFAULT_MAX_IN_FLIGHT
from pypeline.config.fields import Field, Table

__all__ = ["BATCH", "GENERATOR", "GENERATOR_KEYS_BY_TYPE"]

BATCH = Table(
    "a batches entry",
    {
        "pipeline": Field("str", required=True, doc="Pipeline id run for each chunk."),
        "generator": Field("mapping", required=True, doc="Where the keys come from (s3 or local)."),
        "chunkSize": Field("int", gt=0, default=DEFAULT_CHUNK_SIZE, doc="Keys per pipeline run."),
        "concurrency": Field("int", gt=0, default=DEFAULT_MAX_IN_FLIGHT,
                             doc="Pipeline runs of the batch in flight at once."),
        "payloadKey": Field("str", default=DEFAULT_KEY_FIELD, doc="Payload key that holds a chunk's list of keys."),
    },
)

GENERATOR = Table(
    "a batch generator",
    {
        "type": Field("str", required=True, choices=("s3", "local"),
                      doc="Generator type: 's3' (needs bucket) or 'local' (needs path)."),
        "bucket": Field("str", doc="S3 bucket to list (s3)."),
        "prefix": Field("str", allow_empty=True, doc="Key prefix to list under."),
        "path": Field("str", doc="Directory to list (local)."),
        "include": Field("strings", doc="Glob pattern(s) a key must match."),
        "exclude": Field("strings", doc="Glob pattern(s) that drop a key."),
        "regex": Field("str", doc="Regular expression a key must match."),
        "minSize": Field("int", ge=0, doc="Smallest object size in bytes."),
        "maxSize": Field("int", ge=0, doc="Largest object size in bytes."),
        "modifiedSince": Field("timestamp", doc="Only objects modified at or after this ISO 8601 date/time."),
        "endpointUrl": Field("str", doc="S3-compatible endpoint URL (s3)."),
        "region": Field("str", doc="S3 region (s3)."),
        "recursive": Field("bool", doc="List sub-directories / nested prefixes too."),
        # accepted by pypeline.generators (skip .DS_Store, __pycache__ ...), so allowed here too
        "skipCommonHidden": Field("bool", doc="Skip hidden files and caches (.DS_Store, __pycache__, ...)."),
        "followSymlinks": Field("bool", doc="Local only: list file symlinks that resolve outside `path` "
                                            "(default false: skipped and logged)."),
    },
)

#: generator option keys that only make sense for one generator type (plus the key that type requires)
GENERATOR_KEYS_BY_TYPE: dict[str, tuple[frozenset[str], str]] = {
    "s3": (frozenset({"bucket", "endpointUrl", "region"}), "bucket"),
    "local": (frozenset({"path", "followSymlinks"}), "path"),
}

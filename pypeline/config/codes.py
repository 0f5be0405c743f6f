"""Stable codes of config errors (`PYP101 unknown-key`); each is documented in docs/config-errors.md."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ErrorCode", "ALL", "GENERIC", "lookup"]


@dataclass(frozen=True)
class ErrorCode:
    """One kind of config error: a stable id (`PYP101`), a short name (`unknown-key`) and a one-line summary."""

    id: str
    name: str
    summary: str

    def __str__(self) -> str:
        return f"{self.id} {self.name}"


ALL: dict[str, ErrorCode] = {}


def _code(id_: str, name: str, summary: str) -> ErrorCode:
    code = ErrorCode(id_, name, summary)
    assert id_ not in ALL, id_
    ALL[id_] = code
    return code


# 0xx: reading and parsing the file
GENERIC = _code("PYP000", "config-error", "A config problem without a more specific code.")
FILE_UNREADABLE = _code("PYP001", "file-unreadable", "The file is missing, a directory, unreadable or not UTF-8.")
EMPTY_FILE = _code("PYP002", "empty-file", "The file holds no YAML document.")
YAML_SYNTAX = _code("PYP003", "yaml-syntax", "The text is not valid YAML (or is nested too deeply).")
YAML_VALUE = _code("PYP004", "yaml-value", "A YAML value cannot be built safely (unsafe tag, bad timestamp ...).")
YAML_ALIAS = _code("PYP005", "recursive-alias", "A YAML alias refers to a value that contains it.")
DUPLICATE_KEY = _code("PYP006", "duplicate-key", "The same key appears twice in one mapping.")
COMPLEX_KEY = _code("PYP007", "complex-key", "A list or mapping is used as a mapping key.")
BAD_MERGE = _code("PYP008", "bad-merge", "A `<<` merge key does not name a mapping or a list of mappings.")
ENV_UNSET = _code("PYP009", "env-unset", "A `${VAR}` value names an unset environment variable without default.")
FILE_TOO_LARGE = _code("PYP010", "file-too-large", "The file is larger than PYPELINE_MAX_CONFIG_BYTES.")
CONTROL_CHARACTER = _code("PYP011", "control-character", "The text holds a NUL or another control character.")
ALIAS_BOMB = _code("PYP012", "alias-expansion", "YAML aliases expand to too many values (an alias bomb).")

# 1xx: keys and value types (what the JSON Schema expresses)
UNKNOWN_KEY = _code("PYP101", "unknown-key", "A key that is not allowed at this place.")
MISSING_KEY = _code("PYP102", "missing-key", "A required key is missing.")
WRONG_TYPE = _code("PYP103", "wrong-type", "A value has the wrong type (string, integer, list, mapping ...).")
EMPTY_VALUE = _code("PYP104", "empty-value", "A required value is empty or null.")
INVALID_CHOICE = _code("PYP105", "invalid-choice", "A value is not one of the allowed choices.")
OUT_OF_RANGE = _code("PYP106", "out-of-range", "A number is below or above its allowed range.")
BAD_FORMAT = _code("PYP107", "bad-format", "A string does not have the required form (dotted path, name ...).")
ID_NOT_STRING = _code("PYP108", "id-not-string", "A pipeline, node, schedule or batch id is not a string.")
DUPLICATE_NAME = _code("PYP109", "duplicate-name", "A service or schedule name is used twice.")
SCHEMA_VERSION = _code("PYP110", "schema-version", "An unsupported schemaVersion.")

# 2xx: pipelines and their DAG
NO_NODES = _code("PYP201", "no-nodes", "A pipeline has no taskDefinitions entries.")
UNKNOWN_NODE = _code("PYP202", "unknown-node", "dagAdjacency names a node that has no taskDefinitions entry.")
DUPLICATE_CHILD = _code("PYP203", "duplicate-child", "A node lists the same child twice.")
SELF_LOOP = _code("PYP204", "self-loop", "A node lists itself as a child.")
CYCLE = _code("PYP205", "cycle", "dagAdjacency contains a cycle.")
ENGINE_UNSUPPORTED = _code("PYP206", "engine-unsupported", "A node option the pipeline's engine does not support.")
NEEDS_SPLIT = _code("PYP207", "needs-split", "`splitConcurrency` on a node without `split: true`.")
JOIN_WITHOUT_JOIN = _code("PYP208", "join-without-join", "`joinKey` on a node that joins nothing.")
PAYLOAD_SCHEMA = _code("PYP209", "payload-schema", "`payloadSchema` is not a valid JSON Schema.")
DATAFLOW = _code("PYP210", "dataflow", "Split, filter and join nodes do not form sound scopes.")
SUBPIPELINE_CYCLE = _code("PYP211", "subpipeline-cycle", "Sub-pipeline nodes start pipelines in a cycle.")
SUBPIPELINE_NODE = _code("PYP212", "subpipeline-node",
                         "A node names both or neither of `handler` and `pipeline`, or a sub-pipeline node uses "
                         "`split`/`filter`.")

# 3xx: schedules
TARGET_CONFLICT = _code("PYP301", "target-conflict", "A schedule names both `task` and `pipeline`.")
NO_TARGET = _code("PYP302", "no-target", "A schedule names neither `task` nor `pipeline`.")
UNDECLARED_TASK = _code("PYP303", "undeclared-task", "A scheduled task is not declared in registeredTasks.")
UNKNOWN_PIPELINE = _code("PYP304", "unknown-pipeline",
                         "A schedule, batch or sub-pipeline node names a pipeline id that does not exist.")
UNKNOWN_TIMEZONE = _code("PYP305", "unknown-timezone", "A timezone that is not an IANA name.")
AMBIGUOUS_SCHEDULE = _code("PYP306", "ambiguous-schedule", "The schedule type cannot be told from its keys.")
BAD_INTERVAL = _code("PYP307", "bad-interval", "An interval that is too large or too small.")
BAD_CRONTAB = _code("PYP308", "bad-crontab", "A crontab field that is not a valid crontab pattern.")

# 4xx: batches and generators
GENERATOR_KEY = _code("PYP401", "generator-key", "A generator option that belongs to another generator type.")
GENERATOR_NEEDS = _code("PYP402", "generator-needs", "A generator type's required option is missing.")
BAD_REGEX = _code("PYP403", "bad-regex", "`regex` is not a valid regular expression.")
SIZES_REVERSED = _code("PYP404", "sizes-reversed", "`maxSize` is smaller than `minSize`.")
BAD_TIMESTAMP = _code("PYP405", "bad-timestamp", "`modifiedSince` is not an ISO 8601 date or timestamp.")

# 5xx: handlers (only checked when handlers are imported)
HANDLER = _code("PYP501", "handler", "A handler cannot be imported, is not callable or has the wrong signature.")


def lookup(code_id: str) -> ErrorCode:
    """The ErrorCode of an id; unknown ids map to the generic code."""
    return ALL.get(code_id, GENERIC)

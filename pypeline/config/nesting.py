"""Where each key table of `pypeline.config.schema` sits in the file: the tree the schema and `fmt` walk."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pypeline.config import schema
from pypeline.config.schema import Table

__all__ = ["Nest", "NESTING", "ROOT", "nest_of"]

#: The table of the file's top level.
ROOT = schema.TOP


@dataclass(frozen=True)
class Nest:
    """How the value of one key holds further tables.

    `object`: a mapping checked against `tables[0]`; `values`: a mapping of ids, each checked against
    `tables[0]` (no tables: each id maps to a list of names, like dagAdjacency); `items`: a list whose items are
    checked against `tables[0]` (`bare_strings`: or are plain strings). Several tables are alternatives chosen by
    the sibling key `selector` (its value names the table, in order) or, when it is absent, by the keys present.
    """

    how: Literal["object", "values", "items"]
    tables: tuple[Table, ...] = ()
    bare_strings: bool = False
    selector: str | None = None
    selector_values: tuple[str, ...] = ()


#: (table.where, key) -> how that key's value nests further tables; keys not listed hold plain values.
NESTING: dict[tuple[str, str], Nest] = {
    (schema.TOP.where, "serviceConfig"): Nest("items", (schema.SERVICE,)),
    (schema.TOP.where, "pipelines"): Nest("values", (schema.PIPELINE,)),
    (schema.TOP.where, "scheduledTasks"): Nest("values", (schema.SCHEDULE,)),
    (schema.TOP.where, "batches"): Nest("values", (schema.BATCH,)),
    (schema.SERVICE.where, "registeredTasks"): Nest("items", (schema.REGISTERED_TASK,), bare_strings=True),
    (schema.PIPELINE.where, "config"): Nest("object", (schema.PIPELINE_CONFIG,)),
    (schema.PIPELINE_CONFIG.where, "metadata"): Nest("object", (schema.METADATA,)),
    (schema.METADATA.where, "notify"): Nest("object", (schema.NOTIFY,)),
    (schema.PIPELINE_CONFIG.where, "taskDefinitions"): Nest("values", (schema.TASK_DEFINITION,)),
    (schema.PIPELINE_CONFIG.where, "dagAdjacency"): Nest("values"),
    (schema.SCHEDULE.where, "config"): Nest("object", (schema.SCHEDULE_CONFIG,)),
    (schema.SCHEDULE_CONFIG.where, "schedule"): Nest(
        "object", (schema.INTERVAL_SCHEDULE, schema.CRONTAB_SCHEDULE), selector="scheduleType",
        selector_values=schema.SCHEDULE_CONFIG.fields["scheduleType"].choices or (),
    ),
    (schema.BATCH.where, "generator"): Nest("object", (schema.GENERATOR,)),
}


def nest_of(table: Table, key: str) -> Nest | None:
    """How `key` of `table` nests further tables, or None for a plain value."""
    return NESTING.get((table.where, key))

"""Run tags: validated labels stored one row per (run, tag), read back in bulk for lists."""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, Engine, insert, select

from pypeline.errors import InvalidInputError
from pypeline.store.models import RunTag

__all__ = ["TAG_PATTERN", "MAX_TAGS", "normalize_tags", "add_tags", "tags_of"]

_TAG = RunTag.__table__
#: What a tag may contain: letters, digits and `_ . : / = -`, 1-100 characters.
TAG_PATTERN = re.compile(r"^[A-Za-z0-9_.:/=-]{1,100}$")
#: Most tags one run may carry.
MAX_TAGS = 20
_CHUNK = 500


def normalize_tags(tags: Iterable[str] | None) -> list[str]:
    """Validated, de-duplicated tags in first-seen order; InvalidInputError names the bad one."""
    out: list[str] = []
    for tag in tags or ():
        if not isinstance(tag, str) or not TAG_PATTERN.match(tag):
            raise InvalidInputError(f"invalid tag {tag!r}: 1-100 characters of letters, digits and _ . : / = -")
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise InvalidInputError(f"a run carries at most {MAX_TAGS} tags, got {len(out)}")
    return out


def add_tags(conn: Connection, run_id: str, tags: Sequence[str]) -> None:
    """Attach tags to a run in the caller's transaction (tags already present are kept once)."""
    have = set(conn.execute(select(_TAG.c.tag).where(_TAG.c.run_id == run_id)).scalars())
    rows = [{"run_id": run_id, "tag": t} for t in tags if t not in have]
    if rows:
        conn.execute(insert(_TAG), rows)


def tags_of(engine: Engine, run_ids: Sequence[str]) -> dict[str, list[str]]:
    """run id -> its tags (sorted); runs without tags map to []."""
    out: dict[str, list[str]] = {r: [] for r in run_ids}
    with engine.connect() as conn:
        for i in range(0, len(run_ids), _CHUNK):
            rows = conn.execute(select(_TAG.c.run_id, _TAG.c.tag).where(_TAG.c.run_id.in_(run_ids[i : i + _CHUNK]))
                                .order_by(_TAG.c.run_id, _TAG.c.tag))
            for run_id, tag in rows:
                out[run_id].append(tag)
    return out

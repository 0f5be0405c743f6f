"""Retention: delete finished runs with their nodes, events, tags, logs and notification attempts, in batches.

Each batch is its own short transaction (at most `batch` runs), so concurrent writers never wait for a
whole prune: they wait at most for one batch's deletes.

Chunk runs of a batch run are kept as long as their batch run exists (a resume would otherwise see the
chunk as never started and run it again); finished batch runs older than the cutoff are pruned first,
with their chunk rows, which releases their runs to the ordinary prune.

Sub-pipeline runs go with their top-level run: the age and status filters choose top-level runs (and
children whose parent no longer exists); each goes together with all its descendant runs, and only when
every one of them is finished. A child run is never pruned on its own while its parent exists, so a
parent's child links never point at a deleted run. Within a tree, descendants are deleted before their
ancestors (deepest first), so a tree larger than one batch, deleted over several transactions, never
leaves a child whose parent is gone.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, exists, func, or_, select
from sqlalchemy.orm import aliased

from pypeline.status import Status
from pypeline.store.models import (
    BatchChunk,
    BatchRun,
    NodeLog,
    NodeRun,
    NotificationAttempt,
    PipelineRun,
    RunEvent,
    RunTag,
)
from pypeline.store.rows import CHUNK

__all__ = ["PRUNABLE", "prune_runs", "prune_batch_runs", "count_prunable"]

_RUN = PipelineRun.__table__
#: Child tables deleted before their runs (explicitly: bounded work, whatever the FK cascade settings).
_CHILDREN = tuple(model.__table__ for model in (NodeLog, NotificationAttempt, RunTag, RunEvent, NodeRun))
#: Run statuses a prune may delete (finished runs only).
PRUNABLE = (Status.SUCCESS, Status.FAILED, Status.CANCELLED, Status.SKIPPED)
#: Seconds a prune on SQLite waits between batches: longer than SQLite's longest busy-handler sleep (100 ms).
SQLITE_PAUSE = 0.15
_BATCH_RUNS = BatchRun.__table__
_CHUNKS = BatchChunk.__table__
_FINISHED_BATCH = (Status.SUCCESS.value, Status.FAILED.value, Status.CANCELLED.value)


_FINISHED = [s.value for s in PRUNABLE]


def _conditions(before: datetime, statuses: Sequence[Status]) -> list[Any]:
    """Conditions on the top-level runs a prune chooses (its descendants are checked by `_trees`)."""
    chosen = [s.value for s in statuses if s in PRUNABLE] if statuses else list(_FINISHED)
    parent = aliased(_RUN)
    return [_RUN.c.status.in_(chosen), func.coalesce(_RUN.c.finished_at, _RUN.c.created_at) < before,
            _RUN.c.id.not_in(select(_CHUNKS.c.run_id)),
            or_(_RUN.c.parent_run_id.is_(None),  # a child goes with its parent, unless that is gone already
                ~exists(select(parent.c.id).where(parent.c.id == _RUN.c.parent_run_id)))]


def _trees(conn: Connection, roots: Sequence[str]) -> dict[str, list[str]]:
    """Root -> its run id and its descendants', deepest first and the root last; roots with an active descendant
    are left out (the reconciler cancels such an orphan, a later prune takes the tree)."""
    root_of = {root: root for root in roots}
    levels: list[list[str]] = [list(roots)]
    blocked: set[str] = set()
    frontier = list(roots)
    while frontier:
        found: list[str] = []
        for start in range(0, len(frontier), CHUNK):
            rows = conn.execute(select(_RUN.c.id, _RUN.c.parent_run_id, _RUN.c.status)
                                .where(_RUN.c.parent_run_id.in_(frontier[start:start + CHUNK]))).all()
            for row in rows:
                if row.id in root_of:  # a cycle cannot be declared; stay safe against a hand-edited store
                    continue
                root_of[row.id] = root_of[row.parent_run_id]
                if row.status not in _FINISHED:
                    blocked.add(root_of[row.id])
                found.append(row.id)
        if found:
            levels.append(found)
        frontier = found
    trees: dict[str, list[str]] = {root: [] for root in roots if root not in blocked}
    for level in reversed(levels):
        for run_id in level:
            if root_of[run_id] in trees:
                trees[root_of[run_id]].append(run_id)
    return trees


def _chunks(ids: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _delete(conn: Connection, ids: Sequence[str]) -> int:
    """Delete finished runs by id with everything attached; returns how many runs went."""
    for child in _CHILDREN:
        conn.execute(delete(child).where(child.c.run_id.in_(ids)))
    return int(conn.execute(delete(_RUN).where(_RUN.c.id.in_(ids), _RUN.c.status.in_(_FINISHED))).rowcount)


def prune_batch_runs(engine: Engine, before: datetime, batch: int = 500) -> int:
    """Delete finished batch runs that ended before `before` with their chunk rows, in batches."""
    total = 0
    while True:
        with engine.begin() as conn:
            ids = list(conn.execute(select(_BATCH_RUNS.c.id).where(
                _BATCH_RUNS.c.status.in_(_FINISHED_BATCH), _BATCH_RUNS.c.finished_at < before)
                .order_by(_BATCH_RUNS.c.id).limit(batch)).scalars())
            if not ids:
                return total
            conn.execute(delete(_CHUNKS).where(_CHUNKS.c.batch_run_id.in_(ids)))
            conn.execute(delete(_BATCH_RUNS).where(_BATCH_RUNS.c.id.in_(ids)))
        total += len(ids)


def count_prunable(engine: Engine, before: datetime, statuses: Sequence[Status] = ()) -> int:
    """How many runs a prune with these arguments would delete (sub-pipeline descendants included)."""
    cond = _conditions(before, statuses)
    total, after = 0, ""
    with engine.connect() as conn:
        while True:
            roots = list(conn.execute(select(_RUN.c.id).where(*cond, _RUN.c.id > after)
                                      .order_by(_RUN.c.id).limit(CHUNK)).scalars())
            if not roots:
                return total
            after = roots[-1]
            total += sum(len(tree) for tree in _trees(conn, roots).values())


def prune_runs(
    engine: Engine,
    before: datetime,
    statuses: Sequence[Status] = (),
    *,
    batch: int = 500,
    on_batch: Callable[[int], None] | None = None,
    pause: float | None = None,
) -> int:
    """Delete finished runs (of `statuses`, default all finished) that ended before `before`; returns the count.

    Each chosen run goes with its sub-pipeline descendants (see the module doc). One transaction per batch:
    whole trees until at least `batch` runs (so under 2 x `batch`); a tree larger than `batch` is deleted in
    transactions of at most `batch` runs, deepest first. `on_batch` is told each batch's size after its commit.
    Between batches the prune sleeps `pause` seconds (default: 0.1 on SQLite, whose busy handler is not
    fair, so that waiting writers get the lock; 0 on PostgreSQL, where they are not blocked at all).
    """
    if pause is None:
        pause = SQLITE_PAUSE if engine.dialect.name == "sqlite" else 0.0
    total, after = 0, ""
    cond = _conditions(before, statuses)

    def committed(count: int) -> None:
        nonlocal total
        total += count
        if count and on_batch is not None:
            on_batch(count)
        if count and pause:
            time.sleep(pause)

    while True:
        big: list[list[str]] = []  # trees larger than a batch: deleted over several transactions below
        with engine.begin() as conn:
            roots = list(conn.execute(select(_RUN.c.id).where(*cond, _RUN.c.id > after)
                                      .order_by(_RUN.c.id).limit(batch)).scalars())
            if not roots:
                return total
            after = roots[-1]
            trees = _trees(conn, roots)
            ids: list[str] = []
            for root in roots:
                tree = trees.get(root)
                if tree is None:
                    continue
                if len(tree) > batch:
                    big.append(tree)
                    continue
                ids.extend(tree)
                if len(ids) >= batch:
                    after = root  # the next batch goes on after this tree
                    break
            done = _delete(conn, ids) if ids else 0
        committed(done)
        for tree in big:
            for chunk in _chunks(tree, batch):  # descendants first: no commit leaves a child without its parent
                with engine.begin() as conn:
                    done = _delete(conn, chunk)
                committed(done)

"""Retention with sub-pipelines, on SQLite and PostgreSQL: a finished parent goes with its finished descendants,
a child never goes on its own while its parent exists, and no batch leaves a child pointing at a deleted run."""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import aliased

from pypeline.cli import cli
from pypeline.runtime import Runtime
from pypeline.services import retention as retention_service
from pypeline.status import Status
from pypeline.store import children
from pypeline.store.models import NodeRun, PipelineRun, RunEvent, utcnow
from pypeline.store.retention import count_prunable, prune_runs

_RUN = PipelineRun.__table__


def _seed(rt: Runtime, runs: dict[str, tuple[str | None, Status, float]]) -> None:
    """Runs by id: (parent run id or None, status, days since they ended), each with a node row and an event."""
    now = utcnow()
    with rt.store.engine.begin() as conn:
        for run_id, (parent, status, age) in runs.items():
            at = now - timedelta(days=age)
            finished = at if status.is_terminal else None
            conn.execute(insert(_RUN).values(
                id=run_id, pipeline_id="child" if parent else "parent", engine="event", status=status.value,
                attempt=1, nodes_total=1, nodes_left=0, created_at=at, finished_at=finished, updated_at=at,
                parent_run_id=parent, parent_node="sub" if parent else None, parent_instance="" if parent else None))
            conn.execute(insert(NodeRun.__table__).values(
                run_id=run_id, node="n", instance="", handler="h.h", status=status.value, remaining=0, attempts=1,
                retries=0, created_at=at, updated_at=at))
            conn.execute(insert(RunEvent.__table__).values(run_id=run_id, name="e", created_at=at))


def _ids(rt: Runtime) -> set[str]:
    with rt.store.engine.connect() as conn:
        return set(conn.execute(select(_RUN.c.id)).scalars())


def _dangling(rt: Runtime) -> int:
    """Runs whose parent link points at a run that no longer exists."""
    parent = aliased(_RUN)
    with rt.store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(_RUN)
                                .outerjoin(parent, parent.c.id == _RUN.c.parent_run_id)
                                .where(_RUN.c.parent_run_id.is_not(None), parent.c.id.is_(None))).scalar_one())


def test_a_pruned_parent_takes_its_descendants_and_a_kept_parent_keeps_its_children(
        sub_runtime: Callable[..., Runtime]) -> None:
    rt = sub_runtime()
    _seed(rt, {
        # old finished tree: goes whole (the grandchild too), whatever each one's own age
        "old": (None, Status.SUCCESS, 40), "old.c1": ("old", Status.SUCCESS, 41), "old.c1.g": ("old.c1",
                                                                                            Status.FAILED, 2),
        "old.c2": ("old", Status.CANCELLED, 41),
        # young parent: its old child stays, still linked
        "young": (None, Status.SUCCESS, 1), "young.c": ("young", Status.SUCCESS, 40),
        # active parent: its old finished child stays
        "live": (None, Status.RUNNING, 40), "live.c": ("live", Status.SUCCESS, 40),
        # finished parent with a still active child (a cascade not done yet): the whole tree waits
        "ended": (None, Status.FAILED, 40), "ended.c": ("ended", Status.RUNNING, 40),
        "ended.c.g": ("ended.c", Status.SUCCESS, 40),
        # a child whose parent an earlier prune deleted: pruned by its own age
        "orphan": ("gone", Status.SUCCESS, 40),
    })
    before = utcnow() - timedelta(days=30)
    assert count_prunable(rt.store.engine, before) == 5
    assert retention_service.prune(rt, 30, dry_run=True)["runs"] == 5
    assert retention_service.prune(rt, 30)["runs"] == 5
    assert _ids(rt) == {"young", "young.c", "live", "live.c", "ended", "ended.c", "ended.c.g"}
    assert [c["id"] for c in children.children_of(rt.store.engine, "young")] == ["young.c"]
    assert _dangling(rt) == 0
    with rt.store.engine.connect() as conn:  # everything attached to the pruned runs went too
        left = set(conn.execute(select(NodeRun.__table__.c.run_id)).scalars())
        left |= set(conn.execute(select(RunEvent.__table__.c.run_id)).scalars())
    assert left == _ids(rt)

    with rt.store.engine.begin() as conn:  # the reconciler cancels the orphaned child: the tree can go now
        conn.execute(update(_RUN).where(_RUN.c.id == "ended.c").values(status=Status.CANCELLED.value,
                                                                        finished_at=utcnow()))
    assert prune_runs(rt.store.engine, before) == 3
    assert _ids(rt) == {"young", "young.c", "live", "live.c"} and _dangling(rt) == 0


def test_the_status_filter_chooses_top_level_runs_and_their_trees_follow(sub_runtime: Callable[..., Runtime]) -> None:
    rt = sub_runtime()
    _seed(rt, {"f": (None, Status.FAILED, 40), "f.c": ("f", Status.SUCCESS, 40),
               "s": (None, Status.SUCCESS, 40), "s.c": ("s", Status.FAILED, 40)})
    db = ["--config", rt.settings.config_path or "", "--database", rt.settings.resolved_database_url]
    result = CliRunner().invoke(cli, ["runs", "prune", "--older-than", "30", "--status", "FAILED", *db])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["runs"] == 2
    assert _ids(rt) == {"s", "s.c"}  # a FAILED child of a kept SUCCESS parent is not pruned on its own


def test_batches_stay_bounded_and_never_orphan_a_child(sub_runtime: Callable[..., Runtime]) -> None:
    rt = sub_runtime()
    runs: dict[str, tuple[str | None, Status, float]] = {}
    for t in range(6):  # small trees: a parent and one child
        runs[f"a{t}"] = (None, Status.SUCCESS, 40)
        runs[f"a{t}.c"] = (f"a{t}", Status.SUCCESS, 40)
    runs["big"] = (None, Status.SUCCESS, 40)  # one tree of 1 + 5 + 5 runs, larger than a batch
    for c in range(5):
        runs[f"big.{c}"] = ("big", Status.SUCCESS, 40)
        runs[f"big.{c}.g"] = (f"big.{c}", Status.SUCCESS, 40)
    _seed(rt, runs)
    sizes: list[int] = []
    dangling: list[int] = []

    def on_batch(size: int) -> None:
        sizes.append(size)
        dangling.append(_dangling(rt))

    removed = prune_runs(rt.store.engine, utcnow() - timedelta(days=30), batch=4, on_batch=on_batch, pause=0)
    assert removed == len(runs) == sum(sizes) == 23 and _ids(rt) == set()
    assert max(sizes) <= 2 * 4 - 1 and len(sizes) >= 6  # whole small trees per batch, the big one over several
    assert dangling == [0] * len(sizes)  # after every commit, no child points at a deleted run


def test_a_real_parent_run_is_pruned_with_its_child(sub_runtime: Callable[..., Runtime]) -> None:
    rt = sub_runtime()
    with rt.embedded_worker(concurrency=2):
        run_id = rt.start_run("parent", {"x": 2})
        assert rt.wait(run_id, 60)["status"] == Status.SUCCESS.value
    child_id = children.children_of(rt.store.engine, run_id)[0]["id"]
    old = utcnow() - timedelta(days=40)
    with rt.store.engine.begin() as conn:
        conn.execute(update(_RUN).where(_RUN.c.id == child_id).values(created_at=old, finished_at=old))
    assert retention_service.prune(rt, 30)["runs"] == 0  # the old child stays while its parent is kept
    assert children.children_of(rt.store.engine, run_id)[0]["id"] == child_id
    with rt.store.engine.begin() as conn:
        conn.execute(update(_RUN).where(_RUN.c.id == run_id).values(created_at=old, finished_at=old))
    assert retention_service.prune(rt, 30)["runs"] == 2
    assert _ids(rt) == set()

"""Node leases: the claim takes one, a live lease blocks a second copy, heartbeats renew and release,
and the reconciler's re-queue never touches a node that finished or was re-claimed."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from pypeline.errors import PypelineError
from pypeline.reconciler.heartbeat import Heartbeat
from pypeline.status import Status
from pypeline.store import leases
from pypeline.store.models import NodeRun, utcnow
from pypeline.store.repository import CompletionOutcome, FinishPlan, NodeSpec, RunStore

_NODE = NodeRun.__table__


def _succeed(store: RunStore, node: str, result: object) -> CompletionOutcome:
    """Record `node` of run r1 as SUCCESS, releasing its successor b."""
    return store.finish_node("r1", node, Status.SUCCESS, result=result, plan=FinishPlan(release={("b", ""): 1}))


def _run(store: RunStore, run_id: str = "r1") -> None:
    store.create_run(run_id, "p", [NodeSpec("a", "h.a", "q", 0), NodeSpec("b", "h.b", "q", 1)], leaves=["b"])


def _lease(store: RunStore, run_id: str, node: str) -> tuple[datetime | None, str | None, str]:
    with store.engine.connect() as conn:
        row = conn.execute(select(_NODE.c.lease_expires_at, _NODE.c.lease_holder, _NODE.c.status).where(
            _NODE.c.run_id == run_id, _NODE.c.node == node)).one()
    expires = row.lease_expires_at
    if expires is not None and expires.tzinfo is None:  # SQLite hands back naive UTC
        expires = expires.replace(tzinfo=timezone.utc)
    return expires, row.lease_holder, row.status


def _age_lease(store: RunStore, run_id: str, node: str) -> None:
    """As if the holder stopped renewing long ago."""
    with store.engine.begin() as conn:
        conn.execute(update(_NODE).where(_NODE.c.run_id == run_id, _NODE.c.node == node)
                     .values(lease_expires_at=utcnow() - timedelta(seconds=60)))


def test_claim_takes_a_lease_and_a_live_lease_blocks_a_second_copy(store: RunStore) -> None:
    _run(store)
    first = store.claim_node("r1", "a", "task-1")
    assert first.claimed
    expires, holder, _ = _lease(store, "r1", "a")
    assert expires is not None and holder == leases.holder_id()
    duplicate = store.claim_node("r1", "a", "task-1")  # e.g. redelivered after a connection drop
    assert not duplicate.claimed and duplicate.status is Status.RUNNING
    _age_lease(store, "r1", "a")
    again = store.claim_node("r1", "a", "task-2")  # the holder is gone: the node may run again
    assert again.claimed and again.attempts == 2


def test_renew_extends_only_own_running_rows_and_takes_over_retrying(store: RunStore) -> None:
    _run(store)
    store.claim_node("r1", "a", "t-a")
    before, _, _ = _lease(store, "r1", "a")
    assert leases.renew(store.engine, {"t-a"}, 300, holder="other-worker") == 0  # not its lease
    assert leases.renew(store.engine, {"t-a"}, 300) == 1
    after, _, _ = _lease(store, "r1", "a")
    assert after > before
    assert store.retry_node("r1", "a", "boom", "tb")  # RETRYING: whoever holds the retry message renews
    assert leases.renew(store.engine, {"t-a"}, 300, holder="other-worker") == 1
    assert _lease(store, "r1", "a")[1] == "other-worker"


def test_release_expires_a_vanished_task_at_once(store: RunStore) -> None:
    _run(store)
    store.claim_node("r1", "a", "t-a")
    assert leases.release(store.engine, {"t-a"}, holder="other-worker") == 0
    assert leases.release(store.engine, {"t-a"}) == 1
    assert [r.node for r in leases.expired(store.engine, ["event"])] == ["a"]


def test_heartbeat_renews_held_tasks_and_releases_vanished_ones(store: RunStore) -> None:
    _run(store)
    store.claim_node("r1", "a", "t-a")
    held: set[str] = {"t-a"}
    beat = Heartbeat(store, lease_seconds=300, interval=10, source=lambda: (set(held), set()))
    assert beat.beat(now=0.0)
    renewed, _, _ = _lease(store, "r1", "a")
    assert renewed > utcnow() + timedelta(seconds=200)
    held.clear()  # the pool process running it died: the task left the worker, the row still says RUNNING
    assert not beat.beat(now=1.0)
    assert leases.expired(store.engine, ["event"]) == []  # missing once may be a task being received
    assert not beat.beat(now=2.0)
    assert [r.node for r in leases.expired(store.engine, ["event"])] == ["a"]


def test_heartbeat_notices_a_task_that_came_and_went_between_two_looks(store: RunStore) -> None:
    _run(store)
    beat = Heartbeat(store, lease_seconds=300, interval=10, source=lambda: (set(), set()))
    assert not beat.beat(now=0.0)
    beat.received("t-a")  # received, claimed and killed within a second: never in the worker's sets at a look
    store.claim_node("r1", "a", "t-a")
    beat.beat(now=1.0)
    beat.beat(now=2.0)
    assert [r.node for r in leases.expired(store.engine, ["event"])] == ["a"]


def test_requeue_expired_is_guarded(store: RunStore) -> None:
    _run(store)
    store.claim_node("r1", "a", "t-a")
    _age_lease(store, "r1", "a")
    rows = leases.expired(store.engine, ["event"])
    assert [(r.node, r.status) for r in rows] == [("a", "RUNNING")]
    assert leases.expired(store.engine, ["dyrygent"]) == []  # only engines that re-publish their own nodes
    # The node finished between the scan and the re-queue: it must never run again.
    _succeed(store, "a", {"ok": 1})
    assert leases.requeue_expired(store.engine, rows) == []
    assert store.node_statuses("r1") == {"a": "SUCCESS", "b": "QUEUED"}


def test_requeue_expired_skips_a_row_reclaimed_meanwhile(store: RunStore) -> None:
    _run(store)
    store.claim_node("r1", "a", "t-a")
    _age_lease(store, "r1", "a")
    rows = leases.expired(store.engine, ["event"])
    assert store.claim_node("r1", "a", "t-b").claimed  # a redelivery took it over first
    assert leases.requeue_expired(store.engine, rows) == []
    moved_now = leases.expired(store.engine, ["event"])
    assert moved_now == []  # its fresh lease is live


def test_requeue_expired_moves_to_queued(store: RunStore) -> None:
    _run(store)
    store.claim_node("r1", "a", "t-a")
    _age_lease(store, "r1", "a")
    moved = leases.requeue_expired(store.engine, leases.expired(store.engine, ["event"]))
    assert [r.node for r in moved] == ["a"]
    assert _lease(store, "r1", "a") == (None, None, "QUEUED")
    assert store.claim_node("r1", "a", "t-new").claimed


def test_timeout_run_fails_running_and_skips_unstarted(store: RunStore) -> None:
    _run(store)
    store.claim_node("r1", "a", "t-a")
    outcome = leases.timeout_run(store.engine, "r1", "run exceeded maxRunTtl of 2 s")
    assert outcome.applied and outcome.revoke == ["t-a"]
    run = store.get_run("r1")
    assert run["status"] == "FAILED" and run["error"] == "run exceeded maxRunTtl of 2 s"
    assert run["failed_node"] == "a" and run["nodes_left"] == 0
    assert store.node_statuses("r1") == {"a": "FAILED", "b": "SKIPPED"}
    # The revoked handler's late success is not recorded; a second timeout changes nothing.
    assert not _succeed(store, "a", 1).applied
    assert not leases.timeout_run(store.engine, "r1", "again").applied


def test_heartbeat_must_renew_within_the_lease(store: RunStore) -> None:
    with pytest.raises(PypelineError, match="renew more often"):
        Heartbeat(store, lease_seconds=10, interval=10, source=lambda: (set(), set()))

"""The per-node hot path: one statement to claim, one to complete (PostgreSQL), the run settled after a crash."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event

from pypeline.engines.eventdriven import _kwargs_repr
from pypeline.status import Status
from pypeline.store import hotpath
from pypeline.store.models import utcnow
from pypeline.store.repository import FinishPlan, NodeSpec, RunStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> RunStore:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    return RunStore(url)


def _chain(store: RunStore, n: int = 3) -> str:
    run_id = str(uuid.uuid4())
    store.create_run(run_id, "p", [NodeSpec(f"c{i}", "h", "q", 0 if i == 0 else 1) for i in range(n)],
                     leaves=[f"c{n - 1}"])
    return run_id


@contextmanager
def _statements(*engines: Engine | None) -> Iterator[list[str]]:
    """Every SQL statement the given engines send (BEGIN/COMMIT of the driver included where SQLAlchemy sees them)."""
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.strip().split()[0].upper())

    def begin(conn: Any) -> None:
        seen.append("BEGIN")

    def commit(conn: Any) -> None:
        seen.append("COMMIT")

    live = [e for e in engines if e is not None]
    for e in live:
        event.listen(e, "before_cursor_execute", before)
        event.listen(e, "begin", begin)
        event.listen(e, "commit", commit)
    try:
        yield seen
    finally:
        for e in live:
            event.remove(e, "before_cursor_execute", before)
            event.remove(e, "begin", begin)
            event.remove(e, "commit", commit)


def _release(node: str) -> FinishPlan:
    return FinishPlan(release={(node, ""): 1})


def test_claim_and_completion_are_one_statement_each(store: RunStore) -> None:
    run_id = _chain(store)
    engines = (store.engine, store.claim_engine, store.finish_engine)
    with _statements(*engines) as claim:
        assert store.claim_node(run_id, "c0", "t0").claimed
    with _statements(*engines) as finish:
        out = store.finish_node(run_id, "c0", Status.SUCCESS, result={"v": 1}, plan=_release("c1"), task_id="t0")
    assert out.applied and out.dispatch == [("c1", "")] and out.run_status is None
    if store.engine.dialect.name == "postgresql":
        # autocommit connections (SQLAlchemy's logical "begin" sends nothing): no BEGIN / COMMIT round trips
        assert [s for s in claim if s != "BEGIN"] == ["UPDATE"] and [s for s in finish if s != "BEGIN"] == ["WITH"]
        for engine in (store.claim_engine, store.finish_engine):
            assert engine is not None
            with engine.connect() as conn:
                assert conn.connection.driver_connection.autocommit  # type: ignore[union-attr]
    else:  # in-process SQLite: the same change as three prebuilt statements in one transaction
        work = [[s for s in seen if s not in ("BEGIN", "COMMIT")] for seen in (claim, finish)]
        assert work == [["UPDATE"], ["UPDATE", "UPDATE", "UPDATE"]]
        assert claim.count("COMMIT") == finish.count("COMMIT") == 1
    assert store.node_statuses(run_id) == {"c0": "SUCCESS", "c1": "QUEUED", "c2": "PENDING"}
    assert store.row_results(run_id, [("c0", "")])[("c0", "")] == ("SUCCESS", {"v": 1})


def test_fast_completion_finishes_the_run_and_is_idempotent(store: RunStore) -> None:
    run_id = _chain(store, 2)
    store.claim_node(run_id, "c0", "t0")
    store.finish_node(run_id, "c0", Status.SUCCESS, result=1, plan=_release("c1"), task_id="t0")
    store.claim_node(run_id, "c1", "t1")
    out = store.finish_node(run_id, "c1", Status.SUCCESS, result=2, task_id="t1")
    assert out.applied and out.run_status is Status.SUCCESS
    run = store.get_run(run_id)
    assert run["status"] == "SUCCESS" and run["result"] == {"c1": 2} and run["nodes_left"] == 0
    again = store.finish_node(run_id, "c1", Status.SUCCESS, result=2, task_id="t1")  # its reply was lost
    assert again.applied and again.already and again.run_status is Status.SUCCESS and again.dispatch == []
    other = store.finish_node(run_id, "c1", Status.SUCCESS, result=3, task_id="someone-else")
    assert not other.applied
    assert store.row_results(run_id, [("c1", "")])[("c1", "")] == ("SUCCESS", 2)


def test_paused_run_releases_nothing_on_the_fast_path(store: RunStore) -> None:
    run_id = _chain(store)
    store.claim_node(run_id, "c0", "t0")
    store.pause_run(run_id)
    out = store.finish_node(run_id, "c0", Status.SUCCESS, result=1, plan=_release("c1"), task_id="t0")
    assert out.applied and out.dispatch == []
    assert store.node_statuses(run_id)["c1"] == "PENDING"
    assert store.resume_run(run_id) == [("c1", "")]



def test_settle_run_finalises_a_run_left_without_nodes(postgres_url: str) -> None:
    store = RunStore(postgres_url)
    run_id = _chain(store, 1)
    store.claim_node(run_id, "c0", "t0")
    assert store.finish_engine is not None
    with store.finish_engine.connect() as conn:  # the completion commits; the worker dies before finalising
        fast = hotpath.finish_postgres(conn, run_id, "c0", "", Status.SUCCESS, 7, None, "7", {}, utcnow())
    assert fast.moved and fast.ends_run
    assert store.get_run(run_id)["status"] == "RUNNING"
    # the redelivered message finds the node finished; the runner settles the run
    assert not store.claim_node(run_id, "c0", "t0-again").claimed
    assert store.settle_run(run_id) is Status.SUCCESS
    assert store.get_run(run_id)["result"] == {"c0": 7}
    assert store.settle_run(run_id) is None  # idempotent


def test_finish_retry_after_lost_reply_settles_the_run(postgres_url: str) -> None:
    store = RunStore(postgres_url)
    run_id = _chain(store, 1)
    store.claim_node(run_id, "c0", "t0")
    assert store.finish_engine is not None
    with store.finish_engine.connect() as conn:
        hotpath.finish_postgres(conn, run_id, "c0", "", Status.SUCCESS, 7, None, "7", {}, utcnow())
    out = store.finish_node(run_id, "c0", Status.SUCCESS, result=7, task_id="t0")  # the store's own retry
    assert out.applied and out.already and out.run_status is Status.SUCCESS
    assert store.get_run(run_id)["status"] == "SUCCESS"


def test_published_kwargs_repr_is_bounded() -> None:
    text = _kwargs_repr("p", "run-1", "n", "3", "x" * 100)
    assert "run-1" in text and "n[3]" in text and len(text) < 250

"""Transient store errors: the classifier, the retry loop, and real outages on SQLite and PostgreSQL."""
from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from pypeline.errors import StoreUnavailableError
from pypeline.status import Status
from pypeline.store import RunStore
from pypeline.store.repository import FinishPlan, NodeSpec
from pypeline.store.retry import RetryPolicy, is_transient, retry_call


class _PgError(Exception):
    """A stand-in for a psycopg error carrying a SQLSTATE."""

    def __init__(self, sqlstate: str | None, text: str = "pg error") -> None:
        super().__init__(text)
        self.sqlstate = sqlstate


def _wrapped(cls: type[sa_exc.DBAPIError], orig: Exception, invalidated: bool = False) -> sa_exc.DBAPIError:
    return cls("SELECT 1", {}, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(("error", "transient"), [
    (_wrapped(sa_exc.OperationalError, _PgError("40P01", "deadlock detected")), True),
    (_wrapped(sa_exc.OperationalError, _PgError("40001", "could not serialize access")), True),
    (_wrapped(sa_exc.OperationalError, _PgError("57P01", "terminating connection due to administrator command")),
     True),
    (_wrapped(sa_exc.OperationalError, _PgError("08006", "connection failure")), True),
    (_wrapped(sa_exc.OperationalError, _PgError(None, "connection refused")), True),
    (_wrapped(sa_exc.InterfaceError, _PgError(None, "connection already closed")), True),
    (_wrapped(sa_exc.DBAPIError, _PgError("XX000", "odd"), invalidated=True), True),
    (_wrapped(sa_exc.OperationalError, sqlite3.OperationalError("database is locked")), True),
    (sa_exc.DisconnectionError("stale pooled connection"), True),
    (sa_exc.TimeoutError("QueuePool limit reached"), True),
    (StoreUnavailableError("down"), True),
    (_wrapped(sa_exc.OperationalError, sqlite3.OperationalError("no such table: pypeline_runs")), False),
    (_wrapped(sa_exc.IntegrityError, _PgError("23505", "duplicate key")), False),
    (_wrapped(sa_exc.DataError, _PgError("22P02", "Token NaN is invalid")), False),
    (_wrapped(sa_exc.ProgrammingError, _PgError("42P01", "relation does not exist")), False),
    (ValueError("a bug"), False),
])
def test_classifier_retries_only_infrastructure_hiccups(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_retry_call_retries_transient_errors_then_succeeds() -> None:
    calls: list[int] = []

    def op() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _wrapped(sa_exc.OperationalError, _PgError("40P01", "deadlock detected"))
        return "done"

    assert retry_call(op, RetryPolicy(budget_s=5, first_delay_s=0.001), "op") == "done"
    assert len(calls) == 3


def test_retry_call_gives_up_after_its_budget_with_one_clear_error() -> None:
    calls: list[int] = []

    def op() -> None:
        calls.append(1)
        raise _wrapped(sa_exc.OperationalError, _PgError("57P01", "terminating connection"))

    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=r"claim_node failed for 0.2 s .* terminating connection") as err:
        retry_call(op, RetryPolicy(budget_s=0.2, first_delay_s=0.01, max_delay_s=0.05), "claim_node")
    assert 0.15 < time.monotonic() - started < 2 and len(calls) >= 3
    assert isinstance(err.value.__cause__, sa_exc.OperationalError)


def test_retry_call_raises_other_errors_at_once() -> None:
    calls: list[int] = []

    def op() -> None:
        calls.append(1)
        raise _wrapped(sa_exc.IntegrityError, _PgError("23505", "duplicate key"))

    with pytest.raises(sa_exc.IntegrityError):
        retry_call(op, RetryPolicy(budget_s=5), "op")
    assert len(calls) == 1


def _one_node_run(store: RunStore, succ: int = 1) -> str:
    run_id = str(uuid.uuid4())
    specs = [NodeSpec("a", "h.a", "q", 0)] + [NodeSpec(f"s{i}", "h.s", "q", 1) for i in range(succ)]
    store.create_run(run_id, "p", specs, leaves=[f"s{i}" for i in range(succ)], payload={})
    return run_id


def test_sqlite_lock_held_longer_than_the_busy_timeout_is_retried(sqlite_url: str) -> None:
    store = RunStore(sqlite_url, retry_seconds=10)
    run_id = _one_node_run(store)
    store.engine.pool.dispose()  # new connections give up on a lock after 50 ms instead of 30 s
    sa.event.listen(store.engine, "connect", lambda dbapi, _rec: dbapi.execute("PRAGMA busy_timeout=50"))
    holder = sqlite3.connect(sqlite_url.split("///", 1)[1], isolation_level=None, timeout=0, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock for 0.5 s
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        assert store.claim_node(run_id, "a", "t1").claimed  # "database is locked", retried until free
    finally:
        release.join()
        holder.close()
    assert store.node_statuses(run_id)["a"] == "RUNNING"


def _terminate_others(admin: sa.Engine, database: str) -> int:
    with admin.connect() as conn:
        return len(conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"),
            {"db": database}).all())


@pytest.fixture()
def pg_admin(postgres_server: str) -> Any:
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    yield admin
    admin.dispose()


def test_postgres_connections_killed_under_the_store_are_replaced_transparently(postgres_url: str,
                                                                                 pg_admin: sa.Engine) -> None:
    store = RunStore(postgres_url)
    run_id = _one_node_run(store)
    assert store.claim_node(run_id, "a", "task-1").claimed
    database = postgres_url.rsplit("/", 1)[1]
    assert _terminate_others(pg_admin, database) >= 1  # every pooled connection of the store is now dead
    out = store.finish_node(run_id, "a", Status.SUCCESS, result={"v": 1},
                            plan=FinishPlan(release={("s0", ""): 1}), task_id="task-1")
    assert out.applied and out.dispatch == [("s0", "")]
    assert store.node_statuses(run_id) == {"a": "SUCCESS", "s0": "QUEUED"}


def test_a_finish_whose_reply_was_lost_is_recognised_on_retry(sqlite_url: str) -> None:
    """The commit landed but the connection died before the reply: the retry must not lose the successors."""
    store = RunStore(sqlite_url)
    run_id = _one_node_run(store, succ=2)
    assert store.claim_node(run_id, "a", "task-1").claimed
    plan = FinishPlan(release={("s0", ""): 1, ("s1", ""): 1})
    first = store.finish_node(run_id, "a", Status.SUCCESS, result=1, plan=plan, task_id="task-1")
    again = store.finish_node(run_id, "a", Status.SUCCESS, result=1,
                              plan=FinishPlan(release={("s0", ""): 1, ("s1", ""): 1}), task_id="task-1")
    assert first.applied and not first.already
    assert again.applied and again.already and sorted(again.dispatch) == [("s0", ""), ("s1", "")]
    assert store.node_statuses(run_id) == {"a": "SUCCESS", "s0": "QUEUED", "s1": "QUEUED"}  # counted once
    # Another delivery (another task id) of the finished node is a plain duplicate.
    dup = store.finish_node(run_id, "a", Status.SUCCESS, result=1, plan=plan, task_id="task-2")
    assert not dup.applied and not dup.dispatch


def test_store_down_past_its_budget_raises_store_unavailable(tmp_path: Any) -> None:
    store = RunStore(f"sqlite:///{tmp_path / 's.sqlite'}", retry_seconds=0.3)
    run_id = _one_node_run(store)

    def locked(*_: Any, **__: Any) -> None:
        raise _wrapped(sa_exc.OperationalError, sqlite3.OperationalError("database is locked"))

    store.engine = store.read_engine = sa.create_engine("sqlite://")  # every connect fails like a locked database
    sa.event.listen(store.engine, "connect", locked)
    with pytest.raises(StoreUnavailableError, match="run_status failed for 0.3 s"):
        store.run_status(run_id)


def test_a_create_whose_reply_was_lost_is_recognised_but_a_reused_id_is_refused(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunStore(sqlite_url)
    real_insert = store._insert_run
    calls: list[int] = []

    def insert_then_lose_reply(*args: Any) -> Any:
        calls.append(1)
        rows = real_insert(*args)
        if len(calls) == 1:  # committed, but the connection "died" before the reply
            raise _wrapped(sa_exc.OperationalError, _PgError("08006", "connection lost"), invalidated=True)
        return rows

    monkeypatch.setattr(store, "_insert_run", insert_then_lose_reply)
    assert store.create_run("r1", "p", [NodeSpec("a", "h", "q", 0)], leaves=["a"]) == ["a"]
    assert len(calls) == 2 and store.node_statuses("r1") == {"a": "QUEUED"}
    monkeypatch.undo()
    with pytest.raises(sa_exc.IntegrityError):  # somebody else's run with that id is never adopted
        store.create_run("r1", "p", [NodeSpec("a", "h", "q", 0)], leaves=["a"])


def test_a_retry_record_whose_reply_was_lost_still_schedules_the_retry(sqlite_url: str) -> None:
    store = RunStore(sqlite_url)
    run_id = _one_node_run(store)
    assert store.claim_node(run_id, "a", "task-1").claimed
    assert store.retry_node(run_id, "a", "ValueError: x", "tb", task_id="task-1")
    assert store.retry_node(run_id, "a", "ValueError: x", "tb", task_id="task-1")  # the retried call
    assert not store.retry_node(run_id, "a", "ValueError: x", "tb", task_id="task-2")  # another delivery
    assert not store.retry_node(run_id, "a", "ValueError: x", "tb")
    assert store.node_runs(run_id)[0]["retries"] == 1


def test_a_retry_guarded_by_the_retry_count_is_granted_once_per_generation(store_url: str) -> None:
    store = RunStore(store_url)
    run_id = _one_node_run(store)
    assert store.claim_node(run_id, "a", "task-1").claimed
    assert not store.retry_node(run_id, "a", "x", "tb", task_id="task-1", expected_retries=1)  # not at 1 yet
    assert store.node_runs(run_id)[0]["status"] == "RUNNING"
    assert store.retry_node(run_id, "a", "x", "tb", task_id="task-1", expected_retries=0)
    assert store.retry_node(run_id, "a", "x", "tb", task_id="task-1", expected_retries=0)  # reply lost: retried
    assert store.claim_node(run_id, "a", "task-2").claimed  # a late copy of generation 0's message
    assert not store.retry_node(run_id, "a", "x", "tb", task_id="task-2", expected_retries=0)
    row = store.node_runs(run_id)[0]
    assert (row["status"], row["retries"]) == ("RUNNING", 1)
    assert store.retry_node(run_id, "a", "x", "tb", task_id="task-2", expected_retries=1)
    assert store.node_runs(run_id)[0]["retries"] == 2

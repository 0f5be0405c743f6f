"""The fault harness itself: private servers start, restart and die; the store verdict can fail."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from tests.faults.harness import Scenario
from tests.faults.services import Database, PrivatePostgres, PrivateRedis

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


def test_private_redis_restarts_empty_on_the_same_port(private_redis_factory: Callable[[], PrivateRedis]) -> None:
    server = private_redis_factory()
    client = redis.Redis(port=server.port, socket_connect_timeout=1)
    client.set("k", "v")
    server.stop()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    server.start()
    assert client.ping() and client.get("k") is None  # no persistence: a restart loses what was queued


def test_private_postgres_restart_cuts_connections_and_outage_refuses_them(
        database_factory: Callable[[], Database]) -> None:
    server = database_factory()
    engine = sa.create_engine(server.create_database(), pool_pre_ping=False)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    server.restart()
    with pytest.raises(OperationalError), engine.connect() as conn:  # the pooled connection is dead
        conn.exec_driver_sql("SELECT 1")
    with engine.connect() as conn:  # the pool replaced it
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    server.stop()
    if isinstance(server, PrivatePostgres):
        assert not server.running()
    with pytest.raises(OperationalError), engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    server.start()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    engine.dispose()


def test_clean_run_passes_and_the_verdict_catches_double_dispatch_and_failures(
        private_redis: PrivateRedis, postgres_url: str, scenario_factory: Callable[..., Scenario]) -> None:
    sc = scenario_factory("selftest", private_redis.url, postgres_url, redis=private_redis)
    sc.start_workers("w1")
    run_id = sc.invoke("quick", {"sleep": 0.05})
    sc.wait_terminal([run_id], since=__import__("time").monotonic())
    nodes = ["q1", "q2", "q3", "q4"]
    sc.check_clean_run(run_id, nodes)

    # A second start of an untouched node (a duplicate dispatch) is caught; allowed when the fault touched it.
    first = next(e for e in sc.effects.lines([run_id]) if e.node == "q2")
    with open(sc.effects.path, "a") as fh:
        fh.write(f"start {run_id} q2 - 1 {first.pid} deadbeef0000 0.0\n")
    assert any("q2 (not hit by the fault) was dispatched 2 times" in p for p in sc.run_problems(run_id, nodes))
    assert sc.run_problems(run_id, nodes, touched={"q2"}) == []

    # A recorded result that no completed execution produced, and a FAILED row, are caught.
    from pypeline.store.models import NodeRun

    table = NodeRun.__table__
    with sc.rt.store.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.run_id == run_id, table.c.node == "q4")
                     .values(status="FAILED", error="OperationalError: server closed the connection"))
        conn.execute(sa.update(table).where(table.c.run_id == run_id, table.c.node == "q3")
                     .values(result={"token": "forged"}))
    problems = sc.run_problems(run_id, nodes, touched={"q2"})
    assert any("q4 is FAILED with error 'OperationalError" in p for p in problems)
    assert any("q3: recorded result {'token': 'forged'} is not from an execution" in p for p in problems)
    with pytest.raises(AssertionError, match="side effects"):  # the report carries the evidence
        sc.check_clean_run(run_id, nodes, touched={"q2"})


@pytest.mark.parametrize(("in_ci", "outcome"), [(True, pytest.fail.Exception), (False, pytest.skip.Exception)])
def test_a_missing_server_binary_fails_under_ci_and_skips_locally(
        monkeypatch: pytest.MonkeyPatch, in_ci: bool, outcome: type[BaseException]) -> None:
    from tests import helpers
    from tests.faults import services

    monkeypatch.setattr(services, "find_binary", lambda name: None)
    monkeypatch.setattr(helpers, "IN_CI", in_ci)  # read by helpers.unavailable, which require_binary calls
    with pytest.raises(outcome, match="redis-server"):
        services.PrivateRedis(Path("/nonexistent"))
    with pytest.raises(outcome, match="initdb"):
        services.PrivatePostgres()

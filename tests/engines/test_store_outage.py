"""A store connection loss mid-run is an infrastructure fault, never a node failure (PostgreSQL, real worker)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from pypeline.errors import StoreUnavailableError
from pypeline.pipeline import Pipeline, build_config
from pypeline.runtime import Runtime
from pypeline.services import runs as run_service
from pypeline.services.invoke import invoke
from pypeline.settings import Settings
from tests.helpers import wait_until

DEMO = "pypeline_examples.demo"


@pytest.fixture()
def admin(postgres_server: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def _terminate(admin: sa.Engine, database: str) -> int:
    """Kill every connection to `database` (this test's own database only)."""
    with admin.connect() as conn:
        return len(conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"),
            {"db": database}).all())


def _node_status(engine: sa.Engine, run_id: str, node: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT status FROM pypeline_node_runs WHERE run_id = :r AND node = :n"),
                            {"r": run_id, "n": node}).scalar()


def test_connections_killed_while_a_node_runs_do_not_fail_it(tmp_path: Path, redis_url: str, postgres_url: str,
                                                             admin: sa.Engine) -> None:
    queue = f"outage-{tmp_path.name[-10:]}"
    pipeline = (Pipeline("outage", queue=queue, max_retry=0).add_node("nap", f"{DEMO}.slow")
                .add_node("b", f"{DEMO}.summarize").add_node("c", f"{DEMO}.summarize").chain("nap", "b", "c"))
    rt = Runtime(build_config([pipeline]), Settings(broker_url=redis_url, database_url=postgres_url,
                                                    home=tmp_path / "home"))
    database = postgres_url.rsplit("/", 1)[1]
    with rt.embedded_worker(concurrency=2, queues=[queue]):
        run_id = invoke(rt, "outage", {"sleep": 0.8})
        wait_until(lambda: rt.store.node_statuses(run_id).get("nap") == "RUNNING", interval=0.02)
        assert _terminate(admin, database) >= 1  # the pooled connections the worker will record with
        probe = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)  # not the store's (dead) pool
        try:
            wait_until(lambda: _node_status(probe, run_id, "c") == "SUCCESS", 60, interval=0.02)
        finally:
            probe.dispose()
        record = rt.wait(run_id, 60)
        nodes = {n["node"]: n for n in run_service.get_run(rt, run_id)["nodes"]}
    assert record["status"] == "SUCCESS", record
    assert {n: row["status"] for n, row in nodes.items()} == {"nap": "SUCCESS", "b": "SUCCESS", "c": "SUCCESS"}
    assert nodes["nap"]["attempts"] == 1 and nodes["nap"]["error"] is None  # recorded once, no failure


@pytest.mark.parametrize("broker", ["embedded", "redis"])
def test_a_store_outage_past_the_budget_redelivers_the_message(tmp_path: Path, request: pytest.FixtureRequest,
                                                               monkeypatch: pytest.MonkeyPatch, broker: str) -> None:
    """Recording failed past the retry budget: the message is requeued (not acked), the node is not FAILED,
    and the redelivery finishes the run on the real transport."""
    url = "embedded://" if broker == "embedded" else request.getfixturevalue("redis_url")
    queue = f"outage-{broker}-{tmp_path.name[-8:]}"
    pipeline = Pipeline("outage", queue=queue, max_retry=0).add_node("a", f"{DEMO}.summarize") \
        .add_node("b", f"{DEMO}.summarize").chain("a", "b")
    rt = Runtime(build_config([pipeline]), Settings(broker_url=url, home=tmp_path / "home",
                                                    database_url=f"sqlite:///{tmp_path / 's.sqlite'}"))
    store = rt.store
    real_finish = store.finish_node
    outages: list[str] = []

    def finish_once_down(run_id: str, node: str, *args: object, **kwargs: object) -> object:
        if node == "a" and not outages:
            outages.append(node)
            raise StoreUnavailableError("run store unavailable: finish_node failed for 30 s")
        return real_finish(run_id, node, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "finish_node", finish_once_down)
    with rt.embedded_worker(concurrency=2, queues=[queue]):
        run_id = invoke(rt, "outage", {})
        record = rt.wait(run_id, 30)
    nodes = {n["node"]: n for n in store.node_runs(run_id)}
    assert outages == ["a"] and record["status"] == "SUCCESS", record
    assert nodes["a"]["status"] == "SUCCESS" and nodes["a"]["attempts"] == 2 and nodes["a"]["error"] is None
    assert nodes["b"]["attempts"] == 1

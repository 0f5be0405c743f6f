"""Broker restart mid-run (issue 10): a private Redis is restarted while `chain20` runs.

Two timings, each on its own private Redis so they run at the same time: the broker is down while a node
commits its success (the successor's publish hits the outage), and the broker restarts in the middle of a
long node. Each run must end SUCCESS within 60 s of the broker's return, every node recorded once.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.faults.harness import CHAIN20, Scenario, run_parallel, touched_between
from tests.faults.services import PrivateRedis
from tests.helpers import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


def test_redis_restart_after_a_commit_and_during_a_node(
        private_redis_factory: Callable[[], PrivateRedis], postgres_db_factory: Callable[[], str],
        scenario_factory: Callable[..., Scenario]) -> None:
    def down_across_a_commit() -> None:
        broker = private_redis_factory()
        sc = scenario_factory("redis-commit", broker.url, postgres_db_factory(), redis=broker)
        sc.start_workers("w1")
        run_id = sc.invoke("chain20", {"sleep": 0.3})
        sc.wait_started(run_id, "n05")
        before = sc.statuses(run_id)
        broker.stop()  # n05 finishes and commits while the broker is gone: the publish of n06 hits the outage
        wait_until(lambda: any(e.what == "end" and e.node == "n05" for e in sc.effects.lines([run_id])), 30,
                   message="n05's handler ended during the outage", report=lambda: sc.report([run_id]))
        time.sleep(1.0)  # the rest of the outage (the probe saw 1.3-3.5 s): n05's commit and publish fall in it
        broker.start()
        cleared = time.monotonic()
        touched = touched_between(before, sc.statuses(run_id))
        sc.wait_terminal([run_id], since=cleared)
        sc.check_clean_run(run_id, CHAIN20, touched)

    def restart_during_a_node() -> None:
        broker = private_redis_factory()
        sc = scenario_factory("redis-midnode", broker.url, postgres_db_factory(), redis=broker)
        sc.start_workers("w1")
        run_id = sc.invoke("chain20", {"sleep": 0.3, "slow": {"n03": 3.0}})
        sc.wait_started(run_id, "n03")
        before = sc.statuses(run_id)
        broker.restart(down=1.0)  # n03 is still running when the broker is back
        cleared = time.monotonic()
        assert sc.statuses(run_id)["n03"] == "RUNNING", sc.report([run_id])
        touched = touched_between(before, sc.statuses(run_id))
        sc.wait_terminal([run_id], since=cleared)
        sc.check_clean_run(run_id, CHAIN20, touched)

    run_parallel(down_across_a_commit, restart_during_a_node)

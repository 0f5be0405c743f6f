"""Dyrygent retry 20x in a row (issue 10): a node that fails once then succeeds, on a real worker.

The known hang (a retried node's message never executed while the processor keeps ticking) showed up about
once in 10-15 runs, so 20 consecutive runs must all end SUCCESS, each within 60 s, with the retried node
executed exactly twice (one failure, one success) and its neighbours once. No flaky marker, no rerun.
The rounds run in 4 lanes side by side (a lane's next round starts when its previous one ended), which
keeps the test short and only adds contention.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable

import pytest

from tests.faults.harness import Scenario, run_parallel
from tests.faults.services import PrivateRedis

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

NODES = ["first", "flaky", "last"]
ROUNDS = 20
#: Rounds run in this many lanes at once (each lane runs its rounds one after the other).
LANES = 4


def test_dyrygent_retried_node_20_times_in_a_row(private_redis: PrivateRedis, postgres_url: str,
                                                  scenario_factory: Callable[..., Scenario]) -> None:
    # The tick is the invoker's choice of how often dyrygent's processor polls (as in tests/engines),
    # not a lease or timeout: the faster tick only keeps the 20 rounds short.
    sc = scenario_factory("dyrygent-retry", private_redis.url, postgres_url, redis=private_redis,
                          client_settings={"dyrygent_tick": 0.2})
    sc.start_workers("w1", concurrency=3)

    def lane(index: int) -> None:
        for round_ in range(index, ROUNDS + 1, LANES):
            run_id = sc.invoke("dyretry", {"sleep": 0.0})
            sc.wait_terminal([run_id], since=time.monotonic())
            problems = sc.run_problems(run_id, NODES, touched={"flaky"})
            rows = {r["node"]: r for r in sc.read(lambda r=run_id: sc.rt.store.node_runs(r))}
            starts = sc.effects.starts(run_id)
            if (rows["flaky"]["attempts"], rows["flaky"]["retries"], starts["flaky"]) != (2, 1, 2):
                problems.append(f"flaky: attempts={rows['flaky']['attempts']} retries={rows['flaky']['retries']} "
                                f"starts={starts['flaky']}, expected 2, 1, 2")
            assert not problems, (f"round {round_} of {ROUNDS}: run {run_id} not clean:\n  "
                                  + "\n  ".join(problems) + "\n" + sc.report([run_id]))

    run_parallel(*(functools.partial(lane, i) for i in range(1, LANES + 1)))

"""200 concurrent invocations while whole workers are killed -9 twice (issue 10, probe scenario 8).

Twenty threads invoke `quick` 200 times through the service layer (what the API's invoke route calls);
two `-c 2` workers on a private Redis process them, and each worker in turn is killed -9 (whole process
group) mid-load and restarted under the same name. All 200 runs must end SUCCESS within 60 s of the
last restart, every node completion recorded once, and only nodes caught RUNNING by a kill may run twice.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.faults.harness import Scenario
from tests.faults.services import PrivateRedis
from tests.helpers import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

QUICK = ["q1", "q2", "q3", "q4"]
RUNS = 200


def test_200_concurrent_invocations_survive_two_worker_kills(
        private_redis: PrivateRedis, postgres_url: str, scenario_factory: Callable[..., Scenario]) -> None:
    sc = scenario_factory("load-kills", private_redis.url, postgres_url, redis=private_redis)
    sc.start_workers("w1", "w2", concurrency=2)
    with ThreadPoolExecutor(20) as pool:
        run_ids = list(pool.map(lambda _: sc.invoke("quick", {"sleep": 0.05}), range(RUNS)))
    assert len(set(run_ids)) == RUNS
    total = RUNS * len(QUICK)

    caught: dict[str, set[str]] = {}  # run id -> nodes RUNNING when a worker died (they may run twice)
    for victim, share in (("w1", 0.25), ("w2", 0.55)):
        wait_until(lambda s=share: sc.count_nodes(run_ids, ["SUCCESS"]) >= s * total, 120,
                   message=f"{share:.0%} of the nodes done before killing {victim}",
                   report=lambda: sc.report(run_ids[:2]))
        sc.kill_worker(victim)
        done = sc.count_nodes(run_ids, ["SUCCESS"])
        assert done < total, f"every node finished before {victim} was killed: the load is too small"
        for run_id, node in sc.nodes_with(run_ids, ["RUNNING"]):
            caught.setdefault(run_id, set()).add(node)
        sc.start_workers(victim, concurrency=2)
    restarted = time.monotonic()

    sc.wait_terminal(run_ids, since=restarted)
    problems = [f"run {run_id}: {p}" for run_id in run_ids
                for p in sc.run_problems(run_id, QUICK, touched=caught.get(run_id, set()))]
    bad = sorted({p.split()[1].rstrip(":") for p in problems})
    assert not problems, (f"{len(bad)} of {RUNS} runs not clean (nodes caught by the kills: "
                          f"{sum(map(len, caught.values()))}):\n  " + "\n  ".join(problems[:30]) + "\n"
                          + sc.report(bad[:3]))

"""Cancel racing completion 50x on PostgreSQL (issue 10): `cancel` 0-0.4 s after each start of a `quick` run
(near-instant nodes on two `-c 2` workers, so cancels land before, during and after the last commit).

Every run must end CANCELLED or SUCCESS, never stuck; a cancel either succeeds or is refused because the
run already succeeded (InvalidTransitionError, the API's 409, or the finished record returned), never any
other error (a deadlock was a 500). A SUCCESS run must be clean (every node once); a CANCELLED run holds
only SUCCESS and CANCELLED nodes, none started twice, none failed.
"""
from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from pypeline.errors import InvalidTransitionError
from pypeline.services import runs as run_service
from tests.faults.harness import Scenario
from tests.faults.services import PrivateRedis

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

QUICK = ["q1", "q2", "q3", "q4"]
RUNS = 50


def test_cancel_racing_completion_50_times(private_redis: PrivateRedis, postgres_url: str,
                                           scenario_factory: Callable[..., Scenario]) -> None:
    sc = scenario_factory("cancel-race", private_redis.url, postgres_url, redis=private_redis)
    sc.start_workers("w1", "w2", concurrency=2)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    delays = [rng.uniform(0.0, 0.4) for _ in range(RUNS)]

    def race(delay: float) -> tuple[str, str]:
        run_id = sc.invoke("quick", {"sleep": 0.02})
        time.sleep(delay)
        try:
            status = run_service.cancel_run(sc.rt, run_id)["status"]
        except InvalidTransitionError as exc:
            return run_id, f"refused: {exc}"
        except Exception as exc:  # noqa: BLE001 - any other error is the defect under test
            return run_id, f"ERROR {type(exc).__name__}: {exc}"
        if status == "CANCELLED":
            return run_id, "cancelled"
        # A cancel arriving after the last commit may be refused by returning the finished record.
        return run_id, "refused: already SUCCESS" if status == "SUCCESS" else f"cancel returned {status}"

    with ThreadPoolExecutor(4) as pool:
        outcomes = dict(pool.map(race, delays))
    sc.wait_terminal(list(outcomes), since=time.monotonic())

    problems: list[str] = []
    final = {run_id: sc.run_status(run_id) for run_id in outcomes}
    for run_id, outcome in outcomes.items():
        status = final[run_id]
        if outcome.startswith(("ERROR", "cancel returned")):
            problems.append(f"run {run_id}: cancel -> {outcome}")
        if outcome.startswith("refused") and status != "SUCCESS":
            problems.append(f"run {run_id}: cancel refused ({outcome}) but the run ended {status}")
        if outcome == "cancelled" and status != "CANCELLED":
            problems.append(f"run {run_id}: cancel succeeded but the run ended {status}")
        if status == "SUCCESS":
            problems += [f"run {run_id}: {p}" for p in sc.run_problems(run_id, QUICK)]
            continue
        rows = sc.read(lambda r=run_id: sc.rt.store.node_runs(r))
        bad = [f"{r['node']}={r['status']} ({(r['error'] or '')[:200]})" for r in rows
               if r["status"] not in ("SUCCESS", "CANCELLED") or (r["error"] and "deadlock" in r["error"])]
        if status != "CANCELLED" or bad:
            problems.append(f"run {run_id}: {status}, nodes {bad}")
        starts = sc.effects.starts(run_id)
        problems += [f"run {run_id}: node {n} started {c} times" for n, c in starts.items() if c > 1]
    tally = Counter(final.values())
    assert not problems, (f"seed {seed}, final statuses {dict(tally)}:\n  " + "\n  ".join(problems[:40]) + "\n"
                          + sc.report([p.split()[1].rstrip(":") for p in problems[:3]]))
    assert tally["CANCELLED"] >= 1, f"no cancel won the race (seed {seed}): {dict(tally)}"

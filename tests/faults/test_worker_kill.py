"""Whole worker killed -9 mid-node (issue 10), with a second worker alive, on Redis and on RabbitMQ.

`slowchain` (a -> b -> c, 3 s nodes) runs on two `-c 1` workers; while b's handler runs, the worker that
runs it gets SIGKILL on its whole process group (main process and pool child). With default settings the
run must end SUCCESS within 60 s: on Redis nothing but Pypeline's own lease can notice the dead worker
(the broker's visibility timeout is an hour). Both brokers run at the same time, on their own queues.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.faults.harness import Scenario, run_parallel, touched_between
from tests.faults.services import PrivateRedis
from tests.helpers import require_service

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

SLOWCHAIN = ["a", "b", "c"]


def _kill_the_worker_running_b(sc: Scenario) -> None:
    sc.start_workers("w1", "w2")
    run_id = sc.invoke("slowchain", {"sleep": 3.0})
    running = sc.wait_started(run_id, "b")
    victim = sc.worker_of(running.pid)
    before = sc.statuses(run_id)
    sc.kill_worker(victim)
    killed = time.monotonic()
    touched = touched_between(before, sc.statuses(run_id))
    assert touched == {"b"}, sc.report([run_id])
    sc.wait_terminal([run_id], since=killed)
    sc.check_clean_run(run_id, SLOWCHAIN, touched)
    b = sc.effects.lines([run_id])
    assert any(e.node == "b" and e.what == "end" and e.pid != running.pid for e in b), sc.report([run_id])


def test_whole_worker_killed_mid_node_on_redis_and_rabbitmq(
        private_redis: PrivateRedis, amqp_url: str, postgres_db_factory: Callable[[], str],
        scenario_factory: Callable[..., Scenario]) -> None:
    require_service("RabbitMQ", amqp_url)

    def on_redis() -> None:
        _kill_the_worker_running_b(scenario_factory("kill-redis", private_redis.url, postgres_db_factory(),
                                                    redis=private_redis))

    def on_rabbitmq() -> None:
        _kill_the_worker_running_b(scenario_factory("kill-rabbitmq", amqp_url, postgres_db_factory()))

    run_parallel(on_redis, on_rabbitmq)

"""Acceptance: real beat processes and a real worker on Redis, with PostgreSQL and SQLite stores.

* a schedule added while beat runs fires within its period + 5 s; a disabled one stops;
* two beats (`pypeline beat` and `celery -A pypeline.celery beat`) over 60+ fires: each fire delivered once;
* kill -9 of the busiest beat: the other carries on at once, no slot missed, none doubled.
"""
from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from pypeline.scheduler.dispatch import origin_of
from pypeline.scheduler.store import FireRow
from pypeline.services import schedules as svc
from tests.helpers import WorkerProcess, assert_stays, wait_until
from tests.scheduler.support import TASK, Harness, contiguous

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

StartProcess = Callable[..., WorkerProcess]
#: Poll interval of the waits: each look queries the store and Redis, on the cores the beats and worker use.
POLL = 0.1


def _worker(h: Harness, start_worker: StartProcess) -> WorkerProcess:
    """Start the worker without waiting (beats start meanwhile); `w.wait_for_log("ready.")` before checks."""
    return start_worker(h.config, "-c", "2", env=h.env, ready=False)


def _logs(*processes: WorkerProcess) -> Callable[[], str]:
    """Failure report: the end of each process's log."""
    return lambda: "\n".join(f"--- {p.log_path.name}\n{p.tail(2000)}" for p in processes)


def _fires(h: Harness, schedule_id: str) -> list[FireRow]:
    return sorted(svc.schedule_store(h.rt).fires(schedule_id, limit=10_000), key=lambda f: f.due_at)


def _assert_stopped(h: Harness, schedule_id: str, period: float) -> None:
    """Just disabled: beat applies it within its 1 s loop, so no slot due 2 s later is ever fired."""
    cutoff = datetime.now().astimezone() + timedelta(seconds=2)
    assert_stays(lambda: all(f.due_at <= cutoff for f in _fires(h, schedule_id)), period + 3, POLL,
                 message="no fire after the disable")


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_task_schedule_added_live_fires_then_stops_when_disabled(harness: Harness, start_worker: StartProcess,
                                                                 start_beat: StartProcess) -> None:
    worker = _worker(harness, start_worker)
    logs = _logs(worker, start_beat(harness))
    worker.wait_for_log("ready.", 60)
    period = 2
    created = time.monotonic()
    svc.create_schedule(harness.rt, {"id": "live", "name": "live", "task": TASK, "every": period,
                                     "payload": harness.payload()})
    wait_until(harness.counts, period + 5, POLL, message="the first delivery", report=logs)
    first_after = time.monotonic() - created
    assert first_after >= period - 0.5, "a new schedule waits one period; it does not fire at once"
    wait_until(lambda: len(harness.counts()) >= 3, 3 * period + 5, POLL, message="three deliveries", report=logs)

    svc.set_enabled(harness.rt, "live", False)
    _assert_stopped(harness, "live", period)
    fires = _fires(harness, "live")
    wait_until(lambda: set(harness.counts()) == {f.message_id for f in fires}, 10, POLL,
               message="every logged fire delivered", report=logs)
    assert set(harness.counts().values()) == {1}


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_pipeline_schedule_added_live_runs_then_stops_when_disabled(harness: Harness, start_worker: StartProcess,
                                                                    start_beat: StartProcess) -> None:
    worker = _worker(harness, start_worker)
    logs = _logs(worker, start_beat(harness, via="celery"))
    worker.wait_for_log("ready.", 60)
    period = 2
    svc.create_schedule(harness.rt, {"id": "pipe", "name": "pipe", "pipeline": "counted", "every": period,
                                     "payload": harness.payload()})
    wait_until(lambda: len(harness.counts()) >= 2, 2 * period + 5, POLL, message="two scheduled runs", report=logs)
    svc.set_enabled(harness.rt, "pipe", False)
    _assert_stopped(harness, "pipe", period)
    runs, total = harness.rt.store.list_runs(origin=origin_of("pipe"), limit=100)
    for run in runs:
        assert harness.rt.wait(run["id"], 20)["status"] == "SUCCESS"
    assert sorted(harness.counts()) == sorted(r["id"] for r in runs), "each run's node ran exactly once"
    assert set(harness.counts().values()) == {1}
    assert sorted(r["id"] for r in runs) == sorted(f.message_id for f in _fires(harness, "pipe"))


def test_two_beats_fire_once_and_survive_kill_9(harness: Harness, start_worker: StartProcess,
                                                start_beat: StartProcess) -> None:
    worker = _worker(harness, start_worker)
    beats = [start_beat(harness, ready=False), start_beat(harness, via="celery", ready=False)]
    for process in (worker, *beats):
        process.wait_for_log("ready." if process is worker else "active schedule(s) loaded", 60)
    ids = [f"every-{i}" for i in range(6)]
    for sid in ids:
        svc.create_schedule(harness.rt, {"id": sid, "name": sid, "task": TASK, "every": 1,
                                         "payload": harness.payload()})
    store = svc.schedule_store(harness.rt)
    logs = _logs(worker, *beats)
    wait_until(lambda: sum(store.count_fires(s) for s in ids) >= 60, 25, POLL, message="60 fires from two beats",
               report=logs)

    # The busiest beat of the last fires is the one to kill.
    recent = [f.beat or "" for s in ids for f in _fires(harness, s)[-5:]]
    busiest, _ = Counter(recent).most_common(1)[0]
    victim = next(b for b in beats if busiest.endswith(f":{b.proc.pid}"))
    survivor = next(b for b in beats if b is not victim)
    assert {b.split(":")[-1] for b in recent} <= {str(b.proc.pid) for b in beats}
    victim.stop(signal.SIGKILL)
    killed_at = datetime.now().astimezone()
    # The survivor keeps firing; 7 slots (7 s) also covers the re-send of an orphaned fire (after 6 s).
    wait_until(lambda: all(sum(f.due_at > killed_at for f in _fires(harness, s)) >= 7 for s in ids), 30,
               POLL, message="7 slots of every schedule fired after the kill", report=logs)
    for sid in ids:
        svc.set_enabled(harness.rt, sid, False)
    wait_until(lambda: all(f.status == "sent" for s in ids for f in _fires(harness, s)), 15, POLL,
               message="every claimed fire sent", report=logs)
    all_fires = {s: _fires(harness, s) for s in ids}
    expected = {f.message_id for fs in all_fires.values() for f in fs}
    wait_until(lambda: set(harness.counts()) >= expected, 20, POLL, message="the worker to drain", report=logs)
    counts = harness.counts()

    assert len(expected) >= 60 + 6 * 5
    assert set(counts) == expected, "every logged fire was delivered, and nothing else"
    assert set(counts.values()) == {1}, f"doubled: {[k for k, v in counts.items() if v > 1]}"
    survivor_id = f":{survivor.proc.pid}"
    for sid, fires in all_fires.items():
        dues = [f.due_at for f in fires]
        assert contiguous(dues, timedelta(seconds=1)), f"{sid}: a slot was missed"
        after = [f for f in fires if f.due_at > killed_at]
        assert after and all(f.beat and f.beat.endswith(survivor_id) for f in after)
        assert after[0].due_at - killed_at <= timedelta(seconds=10), "the survivor took over within 10 s"

"""DatabaseScheduler in this process on a real Redis broker and real stores: catch-up, restarts, crash recovery,
undeclared targets and a store outage. Messages are read back from the Redis queue (no worker needed).

Beat runs on a `ManualClock`: each test moves beat's time itself and ticks, so nothing waits on wall time."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pypeline.scheduler.beat import DatabaseScheduler
from pypeline.scheduler.dispatch import message_id, origin_of
from pypeline.scheduler.plan import CatchUp
from pypeline.scheduler.store import RowWrite, ScheduleStore
from pypeline.scheduler.sync import spec_values
from pypeline.services import schedules as svc
from pypeline.services.invoke import invoke
from pypeline.store.models import utcnow
from tests.scheduler.support import TASK, Harness, ManualClock, contiguous, run_beat

ONE_SECOND = timedelta(seconds=1)


def _scheduler(h: Harness, clock: ManualClock | None = None, **tuning: Any) -> DatabaseScheduler:
    """A scheduler over the harness; `tuning` sets `beat_*` settings (e.g. redispatch_after=0.2)."""
    settings = dataclasses.replace(h.rt.settings, **{f"beat_{k}": v for k, v in tuning.items()})
    return DatabaseScheduler(app=h.rt.celery, clock=clock or ManualClock(), settings=settings)


def _store(h: Harness) -> ScheduleStore:
    return svc.schedule_store(h.rt)


def _move_due(h: Harness, schedule_id: str, due: datetime) -> None:
    """Pretend no beat ran for a while: the row's next fire is in the past."""
    row = _store(h).get(schedule_id)
    assert row is not None
    _store(h).write([RowWrite(schedule_id, {"next_fire_at": due}, expect_version=row.version)])


@pytest.mark.parametrize("policy", ["once", "skip"])
def test_catch_up_policy(harness: Harness, policy: CatchUp) -> None:
    svc.create_schedule(harness.rt, {"id": "late", "name": "late", "task": TASK, "every": 60,
                                     "payload": harness.payload()})
    down_since = utcnow() - timedelta(minutes=5, seconds=30)  # the current slot is 30 s ahead
    _move_due(harness, "late", down_since)
    sched = _scheduler(harness)
    sched.catch_up = policy
    sched.tick()
    row = _store(harness).get("late")
    assert row is not None and row.next_fire_at is not None
    assert row.next_fire_at > utcnow() and (row.next_fire_at - down_since).total_seconds() % 60 == 0
    if policy == "once":
        assert harness.queued_ids() == [message_id("late", down_since)], "the missed slots fire once"
        assert row.total_fires == 1 and row.last_fired_at == down_since
    else:
        assert harness.queued_ids() == [] and row.total_fires == 0
    sched.tick()
    assert len(harness.queued_ids()) == (1 if policy == "once" else 0)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_restart_neither_refires_nor_skips(harness: Harness) -> None:
    svc.create_schedule(harness.rt, {"id": "tick", "name": "tick", "task": TASK, "every": 1,
                                     "payload": harness.payload()})
    first = _store(harness).get("tick")
    assert first is not None and first.next_fire_at is not None
    clock = ManualClock(first.next_fire_at - ONE_SECOND)
    run_beat(_scheduler(harness, clock), clock, 3.25)
    clock.advance(1.5)  # "restart": the first beat is gone without a goodbye; slots come due meanwhile
    run_beat(_scheduler(harness, clock), clock, 2.5)
    fires = sorted(_store(harness).fires("tick", limit=100), key=lambda f: f.due_at)
    assert len(fires) == 7  # every slot up to the last tick (clock at 7 s), each once
    assert contiguous([f.due_at for f in fires]), "no slot skipped across the restart"
    queued = harness.queued_ids()
    assert sorted(queued) == sorted(f.message_id for f in fires) and len(set(queued)) == len(queued)
    assert all(f.status == "sent" for f in fires)


def test_fire_claimed_by_a_dead_beat_is_resent_once(harness: Harness) -> None:
    svc.create_schedule(harness.rt, {"id": "orphan", "name": "orphan", "task": TASK, "every": 60,
                                     "payload": harness.payload()})
    svc.create_schedule(harness.rt, {"id": "porphan", "name": "porphan", "pipeline": "counted", "every": 60,
                                     "payload": harness.payload()})
    store = _store(harness)
    claimed = {}
    for sid in ("orphan", "porphan"):
        row = store.get(sid)
        assert row is not None and row.next_fire_at is not None
        due = row.next_fire_at
        # A beat committed the claim of this fire and died before publishing it.
        assert store.claim(sid, due, due + timedelta(seconds=60), beat="dead:1", message_id=message_id(sid, due))
        claimed[sid] = due
    # The pipeline fire got as far as starting its run before its beat died.
    invoke(harness.rt, "counted", harness.payload(), origin=origin_of("porphan"),
           run_id=message_id("porphan", claimed["porphan"]))
    clock = ManualClock()
    sched = _scheduler(harness, clock)
    run_beat(sched, clock, 1.0)
    task_fire = message_id("orphan", claimed["orphan"])
    assert task_fire not in harness.queued_ids(), "a claim younger than redispatch_after belongs to its beat"
    clock.advance(sched.redispatch_after)
    run_beat(sched, clock, 3 * sched.orphan_scan_every)  # several scans: the re-sent fire is not sent again
    assert harness.queued_ids().count(task_fire) == 1
    runs, total = harness.rt.store.list_runs(origin=origin_of("porphan"))
    assert total == 1, "a re-sent pipeline fire never starts a second run"
    for sid in claimed:
        (fire,) = store.fires(sid)
        assert fire.status == "sent" and fire.attempts == 2


def test_undeclared_target_is_not_fired(harness: Harness) -> None:
    doc = svc.create_schedule(harness.rt, {"id": "gone", "name": "gone", "task": TASK, "every": 60})
    store = _store(harness)
    row = store.get(doc["id"])
    assert row is not None
    due = utcnow() - ONE_SECOND
    values = {**spec_values(row.spec), "target": "tests.scheduler.handlers.removed", "next_fire_at": due}
    store.write([RowWrite("gone", values, expect_version=row.version)])  # e.g. written for another config
    _scheduler(harness).tick()
    after = store.get("gone")
    assert after is not None and "declared in config" in (after.last_error or "")
    assert after.next_fire_at is not None and after.next_fire_at > utcnow() and after.total_fires == 0
    assert harness.queued_ids() == [] and store.fires("gone") == []


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_pipeline_payload_no_longer_valid_is_not_run(harness: Harness) -> None:
    svc.create_schedule(harness.rt, {"id": "bad", "name": "bad", "pipeline": "counted", "every": 60,
                                     "payload": harness.payload()})
    store = _store(harness)
    row = store.get("bad")
    assert row is not None
    # Written around the service (e.g. by an older release): the payload misses a required key.
    store.write([RowWrite("bad", {"payload": {"counter": "x"}, "next_fire_at": utcnow() - ONE_SECOND},
                          expect_version=row.version)])
    _scheduler(harness).tick()
    (fire,) = store.fires("bad")
    assert fire.status == "failed" and "payloadSchema" in (fire.error or "")
    after = store.get("bad")
    assert after is not None and "payloadSchema" in (after.last_error or "")
    assert harness.rt.store.list_runs(origin=origin_of("bad"))[1] == 0


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_changes_apply_on_the_next_tick(harness: Harness) -> None:
    clock = ManualClock()
    sched = _scheduler(harness, clock)
    svc.create_schedule(harness.rt, {"id": "live", "name": "live", "task": TASK, "every": 3600})
    run_beat(sched, clock, sched.max_interval + 0.25)  # beat looks at changes every max_interval
    assert "live" in sched.schedule
    svc.update_schedule(harness.rt, "live", {"cron": "0 4 * * *"})
    run_beat(sched, clock, sched.max_interval + 0.25)  # beat looks at changes every max_interval
    row = _store(harness).get("live")
    assert row is not None and row.next_fire_at is not None and row.next_fire_at.hour == 4
    assert sched.schedule["live"].schedule.next_fire_at == row.next_fire_at
    svc.set_enabled(harness.rt, "live", False)
    run_beat(sched, clock, sched.max_interval + 0.25)  # beat looks at changes every max_interval
    assert "live" not in sched.schedule


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_store_outage_fires_from_memory_then_writes_back(harness: Harness, postgres_server: str) -> None:
    svc.create_schedule(harness.rt, {"id": "steady", "name": "steady", "task": TASK, "every": 1,
                                     "payload": harness.payload()})
    first = _store(harness).get("steady")
    assert first is not None and first.next_fire_at is not None
    clock = ManualClock(first.next_fire_at - ONE_SECOND)
    sched = _scheduler(harness, clock, offline_after=0.5, backoff_max=1.0)
    name = harness.database_url.rsplit("/", 1)[1]
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    try:
        run_beat(sched, clock, 2.5)
        before = len(harness.queued_ids())
        assert before == 2 and sched.online
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            conn.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
                                 "AND pid <> pg_backend_pid()")
        run_beat(sched, clock, 4.5)
        during = len(harness.queued_ids())
        assert during - before >= 3, "beat kept firing from memory while the store was down"
        assert not sched.online
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.dispose()
    run_beat(sched, clock, 3.0)
    assert sched.online
    fires = sorted(_store(harness).fires("steady", limit=200), key=lambda f: f.due_at)
    queued = harness.queued_ids()
    assert len(set(queued)) == len(queued), "nothing sent twice"
    assert sorted(f.message_id for f in fires) == sorted(queued), "fires sent from memory were written back"
    assert contiguous([f.due_at for f in fires]), "no slot lost through the outage"
    row = _store(harness).get("steady")
    assert row is not None and row.total_fires == len(fires)
    assert any("store was unreachable" in (f.error or "") for f in fires)


def test_celery_scheduler_entry_points(harness: Harness, tmp_path: Path) -> None:
    from celery.utils.imports import symbol_by_name

    from pypeline.celery_beat import SermosEntry, SermosScheduler

    assert symbol_by_name("pypeline.scheduler:DatabaseScheduler") is DatabaseScheduler is SermosScheduler
    svc.create_schedule(harness.rt, {"id": "e", "name": "entry", "task": TASK, "every": 60, "queue": "q1"})
    sched = _scheduler(harness, ManualClock())
    entry = sched.schedule["entry"]
    assert isinstance(entry, SermosEntry) and entry.task == TASK and entry.options == {"queue": "q1"}
    due, remaining = entry.is_due()
    assert not due and 0 < remaining <= 60
    assert "database ->" in sched.info and sched.max_interval <= 1.0

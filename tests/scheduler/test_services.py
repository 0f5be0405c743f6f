"""The schedule service API and config sync, on PostgreSQL and SQLite."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from pypeline.config import load_config_text
from pypeline.errors import InvalidInputError, NotFoundError
from pypeline.runtime import Runtime
from pypeline.scheduler.dispatch import message_id
from pypeline.scheduler.store import ScheduleStore
from pypeline.services import schedules as svc
from pypeline.settings import Settings
from pypeline.store.models import utcnow
from tests.scheduler.support import CONFIG, TASK

pytestmark = pytest.mark.usefixtures("store_url")


def _runtime(store_url: str, tmp_path: Path, text: str | None = None) -> Runtime:
    config = load_config_text(text if text is not None else CONFIG.read_text(), str(CONFIG))
    settings = Settings(config_path=str(CONFIG), database_url=store_url, home=tmp_path / "home")
    return Runtime(config, settings, register=False)


@pytest.fixture()
def rt(store_url: str, tmp_path: Path) -> Runtime:
    """A runtime on the parametrised store (embedded broker: nothing is sent here)."""
    return _runtime(store_url, tmp_path)


def _table(rt: Runtime) -> list[Any]:
    store = svc.schedule_store(rt)
    return [store.counter(), store.list_rows(include_deleted=True)]


def test_create_update_enable_disable_delete(rt: Runtime) -> None:
    before = utcnow()
    doc = svc.create_schedule(rt, {"name": "Every 30s", "task": TASK, "every": 30, "payload": {"a": 1}})
    assert doc["id"] == "every-30s" and doc["source"] == "api" and doc["totalRunCount"] == 0
    assert doc["config"] == {"scheduleType": "interval", "task": TASK, "schedule": {"every": 30, "period": "seconds"},
                             "timezone": "UTC", "payload": {"a": 1}}
    # The first fire is one period from now, not "at once" for lack of a last run.
    assert doc["nextRunAt"] >= (before + timedelta(seconds=30)).isoformat()

    updated = svc.update_schedule(rt, doc["id"], {"config": {"schedule": {"minute": "0", "hour": "3"},
                                                             "timezone": "Europe/Paris"}})
    assert updated["config"]["scheduleType"] == "crontab" and updated["config"]["timezone"] == "Europe/Paris"
    assert updated["nextRunAt"].endswith(("T01:00:00+00:00", "T02:00:00+00:00"))

    disabled = svc.set_enabled(rt, doc["id"], False)
    assert disabled["enabled"] is False and disabled["nextRunAt"] is None
    assert svc.set_enabled(rt, doc["id"], True)["nextRunAt"] is not None
    svc.delete_schedule(rt, doc["id"])
    with pytest.raises(NotFoundError):
        svc.get_schedule(rt, doc["id"])
    assert doc["id"] not in [d["id"] for d in svc.list_schedules(rt)]
    # A deleted id can be created again, with fresh bookkeeping.
    again = svc.create_schedule(rt, {"id": doc["id"], "name": "Again", "pipeline": "counted", "cron": "0 * * * *",
                                     "payload": {"counter": "c", "redis": "redis://"}})
    assert again["config"]["pipeline"] == "counted" and again["totalRunCount"] == 0


@pytest.mark.parametrize(("doc", "change"), [
    ({"name": "bad cron", "task": TASK, "cron": "99 * * * *"}, {"cron": "99 * * * *"}),
    ({"name": "unknown pipeline", "pipeline": "nope", "every": 60}, {"pipeline": "nope"}),
    ({"name": "unknown task", "task": "tests.scheduler.handlers.nope", "every": 60},
     {"config": {"task": "tests.scheduler.handlers.nope"}}),
    ({"name": "bad timezone", "task": TASK, "cron": "0 2 * * *", "timezone": "Europe/Atlantis"},
     {"timezone": "Europe/Atlantis"}),
    ({"name": "negative", "task": TASK, "every": -10}, {"every": -10}),
    ({"name": "past one-off", "task": TASK, "at": "2001-01-01T00:00:00Z"}, {"at": "2001-01-01T00:00:00Z"}),
    ({"name": "bad id", "id": "a/b", "task": TASK, "every": 60}, {"id": "other"}),
    ({"name": "From config", "task": TASK, "every": 60}, {"name": "From config"}),  # taken by the config schedule
    ({"name": "bad payload", "pipeline": "counted", "every": 60, "payload": "x"}, {"payload": ["x"]}),
    ({"name": "schema", "pipeline": "counted", "every": 60, "payload": {"counter": "c"}},
     {"pipeline": "counted", "payload": {"redis": "r"}}),  # payloadSchema requires counter and redis
])
def test_bad_input_raises_and_writes_nothing(rt: Runtime, doc: dict[str, Any], change: dict[str, Any]) -> None:
    svc.sync_config_schedules(rt)
    svc.create_schedule(rt, {"name": "api one", "task": TASK, "every": 60})
    before = _table(rt)
    with pytest.raises(InvalidInputError):
        svc.create_schedule(rt, doc)
    with pytest.raises(InvalidInputError):
        svc.update_schedule(rt, "api-one", change)
    assert _table(rt) == before


def test_sync_keeps_bookkeeping_and_api_edits(rt: Runtime, store_url: str, tmp_path: Path) -> None:
    assert svc.sync_config_schedules(rt)["created"] == ["from-config"]
    store = svc.schedule_store(rt)
    row = store.get("from-config")
    assert row is not None and row.next_fire_at is not None
    # A fire happened (bookkeeping), then the API disabled the schedule.
    due = row.next_fire_at
    assert store.claim("from-config", due, due + timedelta(days=1), beat="t", message_id=message_id("x", due))
    svc.set_enabled(rt, "from-config", False)
    text = CONFIG.read_text()
    edited = text.replace('minute: "30", hour: "2"', 'minute: "45", hour: "3"')
    report = svc.sync_config_schedules(_runtime(store_url, tmp_path, edited))
    assert report["updated"] == ["from-config"]
    doc = svc.get_schedule(rt, "from-config")
    assert doc["enabled"] is False, "the API's disable wins over the file's enabled: true"
    assert doc["config"]["schedule"]["minute"] == "45", "fields the API never touched follow the file"
    assert doc["totalRunCount"] == 1 and doc["lastRunAt"] == due.isoformat()
    assert doc["apiFields"] == ["enabled"]
    # Syncing the same file again changes nothing.
    assert svc.sync_config_schedules(_runtime(store_url, tmp_path, edited))["unchanged"] == ["from-config"]
    # Deleted through the API: stays deleted on later syncs.
    svc.delete_schedule(rt, "from-config")
    assert svc.sync_config_schedules(rt)["created"] == []
    with pytest.raises(NotFoundError):
        svc.get_schedule(rt, "from-config")


def test_sync_removes_schedules_that_left_the_file(rt: Runtime, store_url: str, tmp_path: Path) -> None:
    svc.sync_config_schedules(rt)
    svc.create_schedule(rt, {"name": "api one", "task": TASK, "every": 60})
    gone = CONFIG.read_text().split("scheduledTasks:")[0]
    report = svc.sync_config_schedules(_runtime(store_url, tmp_path, gone))
    assert report["deleted"] == ["from-config"]
    assert [d["id"] for d in svc.list_schedules(rt)] == ["api-one"], "API schedules are not the file's to delete"


def test_sync_leaves_an_api_schedule_with_a_config_id_alone(rt: Runtime) -> None:
    svc.create_schedule(rt, {"id": "from-config", "name": "mine", "task": TASK, "every": 60})
    report = svc.sync_config_schedules(rt)
    assert "from-config" in report["skipped"] and report["created"] == []
    doc = svc.get_schedule(rt, "from-config")
    assert doc["source"] == "api" and doc["name"] == "mine"


def test_change_detection_reads_only_changed_rows(rt: Runtime) -> None:
    for i in range(30):
        svc.create_schedule(rt, {"id": f"s{i:02d}", "name": f"s{i}", "task": TASK, "every": 60})
    store: ScheduleStore = svc.schedule_store(rt)
    rows: list[Any] = []
    watermark = store.each_live_row(rows.append)
    assert len(rows) == 30
    statements: list[str] = []

    def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", _count)
    try:
        assert store.load_changed(watermark) == (watermark, [])
        assert statements == []  # only the change counter, read through the driver connection
        svc.set_enabled(rt, "s07", False)
        svc.delete_schedule(rt, "s11")
        statements.clear()
        new_mark, changed = store.load_changed(watermark)
        assert sorted((r.id, r.spec.enabled, r.deleted) for r in changed) == [("s07", False, False),
                                                                           ("s11", True, True)]
        assert new_mark > watermark and len(statements) == 1 and "version >" in statements[0]
    finally:
        event.remove(store.engine, "before_cursor_execute", _count)


def test_claim_is_a_compare_and_set(rt: Runtime) -> None:
    doc = svc.create_schedule(rt, {"id": "cas", "name": "cas", "task": TASK, "every": 60})
    store = svc.schedule_store(rt)
    row = store.get(doc["id"])
    assert row is not None and row.next_fire_at is not None
    due, nxt = row.next_fire_at, row.next_fire_at + timedelta(seconds=60)
    first = store.claim("cas", due, nxt, beat="a", message_id=message_id("cas", due))
    second = store.claim("cas", due, nxt, beat="b", message_id=message_id("cas", due))
    assert first and second is None
    fires = store.fires("cas")
    assert [(f.beat, f.status, f.due_at) for f in fires] == [("a", "pending", due)]
    after = store.get("cas")
    assert after is not None and after.total_fires == 1 and after.next_fire_at == nxt

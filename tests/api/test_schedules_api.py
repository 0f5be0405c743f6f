"""Schedules over HTTP: the original's GET|POST /schedules/ plus show, update, enable/disable, delete, sync."""
from __future__ import annotations

import pytest

from tests.api.support import ApiStack

NEW = {"name": "Every ten minutes", "schemaVersion": 1, "enabled": True,
       "config": {"scheduleType": "interval", "pipeline": "demo", "payload": {"count": 2},
                  "schedule": {"every": 10, "period": "minutes"}}}


@pytest.fixture()
def sched(tmp_path, redis_url: str) -> ApiStack:  # type: ignore[no-untyped-def]
    from tests.api.support import make_api_stack

    return make_api_stack(tmp_path, redis_url, f"sqlite:///{tmp_path / 's.sqlite'}")


def test_sync_list_create_update_toggle_delete(sched: ApiStack) -> None:
    s = sched
    assert s.client.get("/api/v1/schedules/", headers=s.r).json == []
    synced = s.client.post("/api/v1/schedules/actions/sync", headers=s.w).json
    assert sorted(synced["created"]) == ["demo-every-minute", "nightly-report"]
    listed = {d["id"]: d for d in s.client.get("/api/v1/schedules", headers=s.r).json}
    assert listed["nightly-report"]["config"]["schedule"]["hour"] == "2"
    assert listed["nightly-report"]["config"]["timezone"] == "Europe/Paris"

    created = s.client.post("/api/v1/schedules/", json=NEW, headers=s.w)
    assert created.status_code == 201, created.json
    doc = created.json
    sid = doc["id"]
    assert doc["source"] == "api" and doc["enabled"] and doc["nextRunAt"]
    assert s.client.get(f"/api/v1/schedules/{sid}", headers=s.r).json["name"] == NEW["name"]

    changed = s.client.patch(f"/api/v1/schedules/{sid}", headers=s.w,
                             json={"config": {"schedule": {"minute": "*/5", "hour": "*", "dayOfWeek": "*",
                                                           "dayOfMonth": "*", "monthOfYear": "*"}}})
    assert changed.status_code == 200, changed.json
    assert changed.json["config"]["scheduleType"] == "crontab"

    off = s.client.post(f"/api/v1/schedules/{sid}/disable", headers=s.w)
    assert off.status_code == 200 and off.json["enabled"] is False
    on = s.client.post(f"/api/v1/schedules/{sid}/enable", headers=s.w)
    assert on.json["enabled"] is True and on.json["nextRunAt"]
    assert s.client.get(f"/api/v1/schedules/{sid}/fires", headers=s.r).json == []

    assert s.client.delete(f"/api/v1/schedules/{sid}", headers=s.w).status_code == 204
    gone = s.client.get(f"/api/v1/schedules/{sid}", headers=s.r)
    assert gone.status_code == 404 and gone.json["code"] == "not_found"
    assert s.client.delete(f"/api/v1/schedules/{sid}", headers=s.w).status_code == 404


@pytest.mark.parametrize(("body", "status"), [
    ({**NEW, "config": {**NEW["config"], "pipeline": "nope"}}, 400),
    ({**NEW, "config": {"task": "os.system", "schedule": {"every": 10, "period": "minutes"}}}, 400),
    ({**NEW, "config": {**NEW["config"], "schedule": {"every": 0, "period": "seconds"}}}, 400),
    ({**NEW, "config": {**NEW["config"], "payload": {"count": "many"}}}, 400),
    ({**NEW, "config": {**NEW["config"], "scheduleType": "weekly"}}, 422),
    ({**NEW, "unknown": 1}, 400),
    ({**NEW, "enabled": "perhaps"}, 422),
    ({"schemaVersion": 1}, 400),
    ([NEW], 422),
])
def test_bad_schedules_are_rejected_and_write_nothing(sched: ApiStack, body: object, status: int) -> None:
    resp = sched.client.post("/api/v1/schedules/", json=body, headers=sched.w)
    assert resp.status_code == status, resp.json
    assert resp.json["code"] in ("invalid_input", "validation_error") and resp.json["message"]
    assert sched.client.get("/api/v1/schedules/", headers=sched.r).json == []


def test_schedule_writes_need_write_scope(sched: ApiStack) -> None:
    assert sched.client.post("/api/v1/schedules/", json=NEW, headers=sched.r).status_code == 403
    assert sched.client.post("/api/v1/schedules/x/enable", headers=sched.r).status_code == 403
    assert sched.client.post("/api/v1/schedules/x/enable", headers=sched.w).status_code == 404

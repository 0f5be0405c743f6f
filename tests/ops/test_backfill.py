"""Backfill: one run per schedule slot in a range, tagged, idempotent, queued under maxActiveRuns."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner

from pypeline.cli import cli
from pypeline.errors import InvalidInputError, NotFoundError
from pypeline.runtime import Runtime
from pypeline.services import backfill as backfill_service
from pypeline.services import runs as run_service
from pypeline.services import schedules as schedule_service
from pypeline.settings import get_settings
from pypeline.status import Status
from tests.ops import handlers


def test_cron_backfill_starts_each_slot_once_tagged_and_queued(ops_runtime: Callable[..., Runtime]) -> None:
    rt = ops_runtime()
    handlers.RELEASE.clear()
    schedule_service.create_schedule(rt, {"id": "nightly", "name": "nightly", "pipeline": "limited",
                                          "cron": "30 2 * * *", "timezone": "Europe/Paris"})
    dry = backfill_service.backfill(rt, "nightly", "2026-03-27", "2026-03-31T23:59:59Z", dry_run=True)
    # 02:30 Paris on 29 March 2026 does not exist (spring forward): the scheduler fires it at 03:00 local.
    assert [s["slot"] for s in dry["slots"]] == ["2026-03-27T01:30:00+00:00", "2026-03-28T01:30:00+00:00",
                                                 "2026-03-29T01:00:00+00:00", "2026-03-30T00:30:00+00:00",
                                                 "2026-03-31T00:30:00+00:00"]
    assert dry["planned"] == 5 and run_service.list_runs(rt)[1] == 0
    done = backfill_service.backfill(rt, "nightly", "2026-03-27", "2026-03-29T12:00:00Z")
    assert done["started"] == 3
    runs, total = run_service.list_runs(rt, tags=["backfill"], origin="backfill:nightly")
    assert total == 3
    # maxActiveRuns 1 of `limited`: one runs, the others wait in order (no worker here).
    assert sorted(r["status"] for r in runs) == ["QUEUED", "QUEUED", "RUNNING"]
    assert "slot=2026-03-29T01:00:00Z" in run_service.get_run(rt, done["slots"][2]["run_id"])["tags"]
    again = backfill_service.backfill(rt, "nightly", "2026-03-27", "2026-03-31T23:59:59Z")
    assert (again["started"], again["existing"]) == (2, 3)
    assert rt.store.run_status(again["slots"][4]["run_id"]) is Status.QUEUED
    with pytest.raises(InvalidInputError):
        backfill_service.backfill(rt, "nightly", "2026-04-02", "2026-04-01")
    with pytest.raises(NotFoundError):
        backfill_service.backfill(rt, "nope", "2026-04-01", "2026-04-02")


def test_interval_backfill_stays_in_phase_and_cli_max_active_waits(
    ops_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = ops_runtime()
    monkeypatch.setenv("PYPELINE_HOME", str(rt.settings.home))  # the CLI's embedded broker = the worker's
    get_settings(refresh=True)
    schedule_service.create_schedule(rt, {"id": "hourly", "name": "hourly", "pipeline": "chatty", "every": 3600,
                                          "payload": {"marker": "bf", "lines": 1}})
    plan = backfill_service.backfill(rt, "hourly", "2026-01-01T00:00:00Z", "2026-01-01T03:00:00Z", dry_run=True)
    minutes = {s["slot"][14:] for s in plan["slots"]}
    assert len(plan["slots"]) in (3, 4) and len(minutes) == 1  # hourly, in the schedule's own phase
    db = ["--database", rt.settings.resolved_database_url, "--config", str(rt.settings.config_path)]
    try:
        with rt.embedded_worker(concurrency=2):
            result = CliRunner().invoke(cli, ["schedules", "backfill", "hourly", "--from", "2026-01-01T00:00:00Z",
                                              "--to", "2026-01-01T03:00:00Z", "--max-active", "1", *db])
            assert result.exit_code == 0, result.output
            runs, total = run_service.list_runs(rt, tags=["backfill"])
            assert total == len(plan["slots"])
            for run in runs:
                assert rt.wait(run["id"], 30)["status"] == "SUCCESS"
    finally:
        monkeypatch.undo()
        get_settings(refresh=True)
    records = sorted((rt.store.get_run(r["id"]) for r in runs), key=lambda r: r["started_at"])
    for earlier, later in zip(records, records[1:], strict=False):
        assert later["started_at"] >= earlier["finished_at"]  # --max-active 1: one at a time

"""`pypeline schedules ...`: a thin face over the schedule service; bad input exits 1 with a clear message."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pypeline.cli import cli
from tests.scheduler.support import CONFIG, TASK


@pytest.fixture()
def invoke(pypeline_home: Path) -> CliRunner:
    """A runner on the scheduler test config; the store is the default SQLite file under this test's home."""
    return CliRunner(env={"PYPELINE_CONFIG": str(CONFIG)})


def _ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_schedule_commands(invoke: CliRunner) -> None:
    assert "from-config" in json.loads(_ok(invoke, "schedules", "sync"))["created"]
    out = _ok(invoke, "schedules", "add", "--name", "Hourly", "--task", TASK, "--cron", "0 * * * *",
              "--payload", '{"a": 1}', "--queue", "jobs")
    assert "schedule hourly created" in out
    _ok(invoke, "schedules", "disable", "hourly")
    listed = json.loads(_ok(invoke, "schedules", "list", "--json"))
    assert {d["id"]: d["enabled"] for d in listed} == {"hourly": False, "from-config": True}
    _ok(invoke, "schedules", "update", "hourly", "--every", "30")
    _ok(invoke, "schedules", "enable", "hourly")
    shown = json.loads(_ok(invoke, "schedules", "show", "hourly"))
    assert shown["config"]["schedule"] == {"every": 30, "period": "seconds"} and shown["enabled"] is True
    assert shown["config"]["queue"] == "jobs" and shown["fires"] == []
    _ok(invoke, "schedules", "delete", "hourly")
    assert [d["id"] for d in json.loads(_ok(invoke, "schedules", "list", "--json"))] == ["from-config"]


@pytest.mark.parametrize(("args", "message"), [
    (["schedules", "add", "--name", "x", "--task", TASK, "--cron", "99 * * * *"], "invalid cron expression"),
    (["schedules", "add", "--name", "x", "--pipeline", "nope", "--every", "60"], "is not declared"),
    (["schedules", "add", "--name", "x", "--task", TASK, "--every", "-1"], "interval must be at least one microsecond"),
    (["schedules", "add", "--name", "x", "--task", TASK, "--cron", "0 2 * * *", "--timezone", "Nowhere/X"],
     "unknown timezone"),
    (["schedules", "disable", "missing"], "unknown schedule 'missing'"),
])
def test_bad_input_exits_1_and_writes_nothing(invoke: CliRunner, args: list[str], message: str) -> None:
    result = invoke.invoke(cli, args)
    assert result.exit_code == 1 and message in " ".join(result.output.split()), result.output
    assert json.loads(_ok(invoke, "schedules", "list", "--json")) == []

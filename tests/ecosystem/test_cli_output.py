"""CLI output fit for pipes and people: whole ids when not on a terminal, clear cron/interval wording,
and `pypeline worker` handing Celery's own worker options through."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pypeline.cli import cli
from pypeline.scheduler.spec import describe_interval
from tests.helpers import EXAMPLE, ROOT

#: The scheduler tests' config and handler (tests/scheduler), reused here for the `schedules` commands.
CONFIG = ROOT / "tests" / "scheduler" / "schedules.yaml"
TASK = "tests.scheduler.handlers.count_fire"


@pytest.fixture()
def runner(pypeline_home: Path) -> CliRunner:
    """A runner on the scheduler test config, with the default SQLite store under this test's home."""
    return CliRunner(env={"PYPELINE_CONFIG": str(CONFIG)})


def test_tables_keep_whole_ids_when_piped(runner: CliRunner) -> None:
    long_name = "A schedule whose id is far longer than an eighty column terminal would ever show whole"
    added = runner.invoke(cli, ["schedules", "add", "--name", long_name, "--task", TASK, "--every", "60"])
    assert added.exit_code == 0, added.output
    schedule_id = json.loads(runner.invoke(cli, ["schedules", "list", "--json"]).output)[0]["id"]
    assert len(schedule_id) > 80
    table = runner.invoke(cli, ["schedules", "list"])  # CliRunner output is not a terminal
    assert table.exit_code == 0
    assert schedule_id in table.output and long_name in table.output and "…" not in table.output
    assert "every minute" in table.output


@pytest.mark.parametrize(("every", "period", "text"), [
    (1, "minutes", "every minute"), (10, "minutes", "every 10 minutes"), (1.5, "hours", "every 1.5 hours"),
    (1.0, "seconds", "every second"), (2.0, "days", "every 2 days"),
])
def test_intervals_read_naturally(every: float, period: str, text: str) -> None:
    assert describe_interval(every, period) == text


@pytest.mark.parametrize(("cron", "message"), [
    ("61 * * * *", "bad minute '61'"),
    ("0 25 * * 9", "bad hour '25', day-of-week '9'"),
    ("* * *", "expected five fields 'minute hour day-of-month month day-of-week', got 3"),
    ("0 0 31 2 *", "it never fires"),
])
def test_cron_errors_name_the_bad_field(runner: CliRunner, cron: str, message: str) -> None:
    result = runner.invoke(cli, ["schedules", "add", "--name", "x", "--task", TASK, "--cron", cron])
    assert result.exit_code == 1 and message in " ".join(result.output.split()), result.output
    assert "expected five fields" not in result.output or len(cron.split()) != 5


def test_worker_passes_unknown_options_to_celery(pypeline_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_worker_main(self: Any, argv: list[str]) -> None:
        seen.append(argv)

    monkeypatch.setattr("celery.Celery.worker_main", fake_worker_main)
    result = CliRunner().invoke(cli, ["worker", str(EXAMPLE), "-Q", "q1", "-E", "--autoscale", "4,1",
                                      "--max-tasks-per-child", "50", "--pool", "threads", "-n", "w1@%h"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (argv,) = seen
    assert argv[:3] == ["worker", "-Q", "q1"]
    assert ["-P", "threads"] == argv[argv.index("-P"):argv.index("-P") + 2]
    assert ["-n", "w1@%h"] == argv[argv.index("-n"):argv.index("-n") + 2]
    assert argv[-5:] == ["-E", "--autoscale", "4,1", "--max-tasks-per-child", "50"]  # Celery's, in order

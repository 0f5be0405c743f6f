"""The worker-side driver task: re-scheduling, backoff after errors, giving up after too many."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

import pypeline.batches.tasks as driver
from pypeline.batches.driver import MIN_TICK
from pypeline.batches.launch import launch
from pypeline.batches.spec import spec_from_config
from pypeline.runtime import Runtime
from pypeline.services import batches
from pypeline.settings import Settings
from tests.e2e.batch_support import write_config


@pytest.fixture
def rt(tmp_path: Path, sqlite_url: str) -> Runtime:
    """A registered runtime (embedded broker) on the batch test config with 5 files."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(5):
        (data / f"{i}.txt").write_text(str(i))
    path, _ = write_config(tmp_path, data_dir=data)
    return Runtime.from_path(str(path), Settings(config_path=str(path), home=tmp_path / "h", database_url=sqlite_url))


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Captures the next steps the driver publishes instead of sending them."""
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(driver, "schedule_tick", lambda rt, batch_run_id, token, **kw: sent.append(kw))
    return sent


def _run(rt: Runtime, **kwargs: Any) -> Any:
    task = rt.celery.tasks[batches.DRIVER_TASK]  # registered in the app by importing pypeline.batches.tasks
    return task.apply(kwargs=kwargs).get()


def test_driver_task_is_registered_and_reschedules_while_running(rt: Runtime, ticks: list[dict[str, Any]]) -> None:
    assert "pypeline.batches.tasks" in rt.celery.conf.imports
    record = launch(rt, spec_from_config(rt.config, "files", {"chunkSize": 2, "concurrency": 1}), driver="local")
    base = {"batch_run_id": record["id"], "token": record["driver_token"], "queue": "q"}
    assert _run(rt, **base, delay=0.0) == "RUNNING"
    assert ticks[-1]["delay"] == MIN_TICK and ticks[-1]["finished"] == 0  # it started a chunk: soon
    _run(rt, **base, delay=0.4, finished=0)
    assert ticks[-1]["delay"] == pytest.approx(0.6)  # nothing changed (cap reached): back off
    assert _run(rt, **{**base, "token": "w-stale"}) == "RUNNING" and len(ticks) == 2  # superseded: stops quietly


def test_driver_backs_off_after_errors_then_gives_up(rt: Runtime, ticks: list[dict[str, Any]],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    record = launch(rt, spec_from_config(rt.config, "files"), driver="local")
    base = {"batch_run_id": record["id"], "token": record["driver_token"], "queue": "q"}

    def down(*_: Any) -> None:
        raise OperationalError("SELECT 1", {}, Exception("database is down"))

    monkeypatch.setattr(driver, "drive_step", down)
    _run(rt, **base, delay=0.05)
    assert ticks[-1]["failures"] == 1 and ticks[-1]["delay"] == 2.0
    _run(rt, **base, delay=20.0, failures=3)
    assert ticks[-1]["failures"] == 4 and ticks[-1]["delay"] == driver.MAX_ERROR_DELAY
    _run(rt, **base, failures=driver.MAX_DRIVER_FAILURES - 1)
    assert len(ticks) == 2
    failed = batches.batch_status(rt, record["id"])
    assert failed["status"] == "FAILED" and "driver gave up after 10 consecutive errors" in failed["error"]

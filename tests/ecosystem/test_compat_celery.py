"""The original's Celery-side helpers: configure_celery on a user's app, GenerateCeleryTasks, task signatures,
beat helpers and the worker's default queues and scheduler."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from celery import Celery
from celery.schedules import crontab, schedule

from pypeline.errors import InvalidInputError
from pypeline.runtime import Runtime
from pypeline.settings import Settings, get_settings
from tests.helpers import EXAMPLE


@pytest.fixture()
def example_runtime(pypeline_home: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """The example config as PYPELINE_CONFIG, embedded broker."""
    monkeypatch.setenv("PYPELINE_CONFIG", str(EXAMPLE))
    get_settings(refresh=True)
    return Runtime.from_env(register=False)


def test_runtime_app_defaults_for_plain_celery_commands(example_runtime: Runtime, tmp_path: Path) -> None:
    dyrygent = tmp_path / "dyrygent.yaml"
    dyrygent.write_text(EXAMPLE.read_text().replace("engine: event", "engine: dyrygent", 1))
    conf = Runtime.from_path(str(dyrygent), example_runtime.settings).celery.conf
    queues = [q.name for q in conf.task_queues]
    assert {"pypeline-demo", "pypeline-orchestrator", "celery"} <= set(queues)  # nodes, processorQueue, default
    assert len(queues) == len(set(queues))
    assert conf.beat_scheduler == "pypeline.scheduler:DatabaseScheduler"
    assert conf.worker_send_task_events is True and conf.task_send_sent_event is True
    quiet = Runtime(None, Settings(task_events=False, home=example_runtime.settings.home)).celery.conf
    assert quiet.worker_send_task_events is False and quiet.task_send_sent_event is False


@pytest.mark.parametrize(("results", "backend", "kept"), [
    ("auto", "redis://localhost/1", True), ("auto", "db+sqlite:///x.sqlite", False),
    ("true", "db+sqlite:///x.sqlite", True), ("false", "redis://localhost/1", False),
])
def test_task_results_setting(results: str, backend: str, kept: bool) -> None:
    assert Settings(task_results=results, result_backend=backend).keep_task_results is kept


def test_configure_celery_prepares_a_users_own_app(example_runtime: Runtime) -> None:
    from pypeline.celery import configure_celery

    users = Celery("acme")
    assert configure_celery(users, runtime=example_runtime) is users
    assert users.pypeline is example_runtime
    assert users.conf.task_serializer == "json" and users.conf.accept_content == ["json"]
    assert users.conf.beat_scheduler == "pypeline.scheduler:DatabaseScheduler"
    assert set(example_runtime.config.handlers) <= set(users.tasks)
    assert "pypeline.compat.builtin_tasks" in users.conf.imports
    users.loader.import_default_modules()
    assert {"pypeline.celery.task_chain_regulator", "pypeline.celery.pipeline_success"} <= set(users.tasks)


def test_generate_celery_tasks_from_a_parsed_dict(example_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from pypeline.celery import GenerateCeleryTasks

    doc = yaml.safe_load(EXAMPLE.read_text().replace("${PYPELINE_DEMO_QUEUE:pypeline-demo}", "q"))
    monkeypatch.setenv("WORKER_NAME", "demo-worker")
    get_settings(refresh=True)
    app = Celery("generated")
    names = GenerateCeleryTasks(doc, app).generate()
    assert names and all(name.startswith("pypeline_examples.demo.") for name in names)
    assert set(names) <= set(app.tasks)


def test_task_signature_carries_the_original_event(example_runtime: Runtime) -> None:
    from pypeline.utils.task_utils import get_service_config_for_worker, get_task_signature

    sig = get_task_signature("pypeline_examples.demo.fetch", "q1", access_key="k", pipeline_id="demo",
                             execution_id="e1", max_ttl=30, custom_event_data={"extra": 1},
                             runtime=example_runtime)
    event = sig.kwargs["event"]
    assert event["pipeline_id"] == "demo" and event["execution_id"] == "e1" and event["extra"] == 1
    assert event["task_id"] == sig.options["task_id"]
    assert sig.options["queue"] == "q1" and sig.options["soft_time_limit"] == 30
    assert sig.options["time_limit"] == 40 and sig.immutable
    with pytest.raises(InvalidInputError, match="not a handler declared"):
        get_task_signature("os.system", "q1", runtime=example_runtime)
    with pytest.raises(InvalidInputError, match="Must set queue"):
        get_task_signature("pypeline_examples.demo.fetch", None, runtime=example_runtime)
    service = get_service_config_for_worker(example_runtime.config.raw, "demo-worker")
    assert service is not None and service["name"] == "demo-worker"
    with pytest.raises(InvalidInputError):
        get_service_config_for_worker(example_runtime.config.raw, "nobody")


def test_beat_helpers() -> None:
    from pypeline.celery_beat import convert_to_datetime, instantiate_celery_schedule

    every = instantiate_celery_schedule({"config": {"scheduleType": "interval",
                                                    "schedule": {"every": 30, "period": "seconds"}}})
    assert isinstance(every, schedule) and every.run_every == dt.timedelta(seconds=30)
    cron = instantiate_celery_schedule({"config": {"schedule": {"minute": " 0", "hour": "2"}}})  # type inferred
    assert isinstance(cron, crontab) and cron.hour == {2} and cron.minute == {0}
    with pytest.raises(InvalidInputError):
        instantiate_celery_schedule({"config": {"schedule": {}}})
    assert convert_to_datetime("2024-01-02T03:04:05.000006") == dt.datetime(2024, 1, 2, 3, 4, 5, 6)


def test_a_users_configured_app_runs_pipelines(example_runtime: Runtime) -> None:
    """The original's wiring (`app = Celery(); configure_celery(app)`; `celery -A mypkg.celery worker`) runs nodes."""
    from celery.contrib.testing.worker import start_worker

    from pypeline.celery import configure_celery

    users = configure_celery(Celery("acme"), runtime=example_runtime)
    queues = list(example_runtime.config.queues())
    with start_worker(users, pool="threads", concurrency=2, queues=queues, perform_ping_check=False,
                      shutdown_timeout=30):
        run_id = example_runtime.start_run("demo", {"count": 3})
        record = example_runtime.wait(run_id, timeout=60)
    assert record["status"] == "SUCCESS", record
    assert {n["status"] for n in example_runtime.store.node_runs(run_id)} == {"SUCCESS"}

"""ChainedTask calling conventions and dynamic task generation from config."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pypeline.config import load_config
from pypeline.errors import NotFoundError
from pypeline.runtime import Runtime
from pypeline.settings import Settings
from pypeline.tasks.chained import CONTEXT_KEY, call_handler
from pypeline.tasks.registry import import_callable
from tests.helpers import EXAMPLE


def test_call_handler_passes_event_as_keyword() -> None:
    seen: dict[str, Any] = {}

    def fn(event: dict[str, Any]) -> str:
        seen.update(event)
        return "ok"

    assert call_handler(fn, {"a": 1}) == "ok" and seen == {"a": 1}


def test_call_handler_supports_no_arg_kwargs_and_async() -> None:
    def no_args() -> int:
        return 7

    def kw(**kwargs: Any) -> Any:
        return kwargs["event"]["x"]

    async def coro(event: dict[str, Any]) -> int:
        return event["x"] * 2

    assert call_handler(no_args, {"x": 1}) == 7
    assert call_handler(kw, {"x": 3}) == 3
    assert call_handler(coro, {"x": 4}) == 8


def test_import_callable_errors() -> None:
    assert import_callable("pypeline_examples.demo.fetch").__name__ == "fetch"
    with pytest.raises(ImportError):
        import_callable("no_such_pkg_xyz.fn")
    with pytest.raises(AttributeError):
        import_callable("pypeline_examples.demo.nope")
    with pytest.raises(TypeError, match="not callable"):
        import_callable("pypeline_examples.demo.__all__")


@pytest.fixture()
def runtime(pypeline_home: Path) -> Runtime:
    return Runtime(load_config(EXAMPLE), Settings.from_env())


def test_every_declared_handler_is_a_task_named_by_its_path(runtime: Runtime) -> None:
    config = runtime.config
    assert set(runtime.task_names) == set(config.handlers)
    for name in config.handlers:
        task = runtime.celery.tasks[name]
        assert task.name == name and task.handler_path == name
    assert "os.system" not in runtime.celery.tasks


def test_service_restricts_registration(pypeline_home: Path) -> None:
    config = load_config(EXAMPLE)
    rt = Runtime(config, Settings.from_env(), service="demo-worker")
    assert set(rt.task_names) == set(config.services[0].handlers)
    with pytest.raises(NotFoundError, match="unknown service"):
        Runtime(config, Settings.from_env(), service="nope")


def test_celery_defaults_are_safe(runtime: Runtime) -> None:
    conf = runtime.celery.conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"] and conf.result_serializer == "json"
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1 and conf.result_expires == 86400


def test_plain_call_keeps_the_original_contract(runtime: Runtime) -> None:
    task = runtime.celery.tasks["pypeline_examples.demo.heartbeat"]
    # A single positional dict becomes kwargs (the original's mutable-chain behaviour).
    assert task.apply(args=({"event": {"note": 1}},)).get() == {"alive": True, "note": 1}
    assert task.apply(kwargs={}).get() == {"alive": True, "note": None}
    assert runtime.celery.tasks["pypeline_examples.demo.report"].apply().get() == "report done"


def test_plain_task_retries_with_the_node_policy(runtime: Runtime) -> None:
    task = runtime.celery.tasks["pypeline_examples.demo.load"]
    assert task.retry_policy is not None and task.retry_policy.max_retry == 1
    assert CONTEXT_KEY == "_pypeline"

"""The shared test helpers themselves: waits fail with what they saw, workers start, report and stop."""
from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import EXAMPLE, Stack, WorkerProcess, assert_stays, poll_until, wait_until


def _counter() -> Callable[[], int]:
    counter = itertools.count(1)
    return lambda: next(counter)


def test_wait_until_returns_the_first_truthy_value() -> None:
    tick = _counter()
    assert wait_until(lambda: (n := tick()) >= 3 and n, 5, interval=0.001) == 3


def test_wait_until_fails_with_message_last_value_and_report() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError) as failure:
        wait_until(lambda: [], 0.2, interval=0.02, message="queue drained", report=lambda: "the log tail")
    assert 0.2 <= time.monotonic() - started < 2
    text = str(failure.value)
    assert "queue drained" in text and "last value: []" in text and "the log tail" in text


def test_wait_until_checks_once_more_after_the_deadline() -> None:
    """A predicate slower than the timeout still gets a last look instead of failing unseen."""
    calls = _counter()

    def slow() -> bool:
        if calls() == 1:
            time.sleep(0.1)  # the first look outlasts the timeout
            return False
        return True

    assert wait_until(slow, 0.05, interval=0.01)


def test_poll_until_returns_the_fetched_value_and_shows_the_last_one() -> None:
    tick = _counter()
    assert poll_until(lambda: {"n": tick()}, lambda doc: doc["n"] == 4, 5, interval=0.001) == {"n": 4}
    with pytest.raises(AssertionError, match=r"batch done.*last value: \{'terminal': False\}"):
        poll_until(lambda: {"terminal": False}, lambda doc: doc["terminal"], 0.1, interval=0.02, message="batch done")


def test_assert_stays_holds_for_the_duration_and_fails_at_the_first_miss() -> None:
    started = time.monotonic()
    assert_stays(lambda: True, 0.2, interval=0.02)
    assert time.monotonic() - started >= 0.2
    tick = _counter()
    with pytest.raises(AssertionError, match=r"still pending: stopped holding \(value: False\)"):
        assert_stays(lambda: tick() < 3, 5, interval=0.001, message="still pending")


def test_stack_builds_a_unique_queue_config_and_the_worker_environment(tmp_path: Path) -> None:
    def edit(doc: dict[str, Any], queue: str) -> None:
        doc["pipelines"]["demo"]["description"] = f"edited for {queue}"

    stack = Stack.create(tmp_path, "memory://", f"sqlite:///{tmp_path / 's.sqlite'}", edit=edit)
    assert stack.queue.startswith("pypeline-test-") and stack.queue in stack.config.read_text()
    assert stack.config.read_text() != EXAMPLE.read_text() and "pypeline-demo" not in stack.config.read_text()
    assert stack.rt.config.pipelines["demo"].description == f"edited for {stack.queue}"
    assert stack.worker_env(EXTRA="1") == {"PYPELINE_BROKER_URL": "memory://",
                                           "PYPELINE_DATABASE_URL": f"sqlite:///{tmp_path / 's.sqlite'}",
                                           "PYPELINE_HOME": str(tmp_path / "home"), "EXTRA": "1"}


def test_worker_process_that_exits_fails_at_once_with_its_log(tmp_path: Path) -> None:
    """(A worker that starts is exercised by every e2e test through the `start_worker` fixture.)"""
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"worker exited with [1-9]") as failure:
        WorkerProcess.start(tmp_path / "missing.yaml", cwd=tmp_path, timeout=60)
    assert time.monotonic() - started < 30  # not the whole timeout
    assert "missing.yaml" in str(failure.value)


def test_no_module_imports_from_a_conftest() -> None:
    """Fixtures live in conftest.py; names a test imports live in tests/helpers.py or a package's support.py."""
    import ast

    tests = Path(__file__).parent
    offenders = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):  # `from tests.conftest import x`, `from tests import conftest`
                names = [f"{node.module}.{alias.name}" for alias in node.names]
                modules = [node.module or "", *names]
            elif isinstance(node, ast.Import):  # `import tests.conftest`
                modules = [alias.name for alias in node.names]
            else:
                continue
            if any(module.split(".")[-1] == "conftest" for module in modules):
                offenders.append(f"{path.relative_to(tests)}:{node.lineno} imports a conftest module")
    assert not offenders, "\n".join(offenders)

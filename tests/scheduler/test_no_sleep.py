"""The scheduler tests never sleep: they wait for a condition (`tests.helpers`) or move beat's `ManualClock`."""
from __future__ import annotations

import ast
from pathlib import Path


def _sleeps(source: str) -> list[int]:
    """Lines calling `sleep(...)` (`time.sleep`, `asyncio.sleep` or a bare imported `sleep`)."""
    return [node.lineno for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call) and
            (getattr(node.func, "attr", None) == "sleep" or getattr(node.func, "id", None) == "sleep")]


def test_the_guard_sees_every_spelling_of_a_sleep() -> None:
    source = "import time\nfrom time import sleep\ntime.sleep(1)\nsleep(0.5)\nasyncio.sleep(2)\nsleeper(1)\n"
    assert _sleeps(source) == [3, 4, 5]


def test_no_scheduler_test_sleeps() -> None:
    here = Path(__file__).parent
    offenders = [f"{path.name}:{line}" for path in sorted(here.glob("*.py")) for line in _sleeps(path.read_text())]
    assert offenders == [], "wait for the condition or move the ManualClock instead of sleeping"

"""Importable helpers of the scheduler tests: a manual clock for beat, polling waits, slot checks."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

__all__ = ["ManualClock", "wait_until", "assert_stays", "contiguous"]


class ManualClock:
    """A beat clock that moves only when told to (wall and monotonic time together)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(timezone.utc)
        self._mono = 1_000.0

    def now(self) -> datetime:
        """Current wall time of this clock."""
        return self._now

    def monotonic(self) -> float:
        """Current monotonic time of this clock."""
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def assert_stays(predicate: Callable[[], Any], duration: float, interval: float = 0.2, what: str = "condition") -> None:
    """Check `predicate` repeatedly for `duration` seconds; fail as soon as it is false."""
    deadline = time.monotonic() + duration
    while True:
        assert predicate(), f"{what} stopped holding"
        if time.monotonic() > deadline:
            return
        time.sleep(interval)


def contiguous(dues: list[datetime], step: timedelta = timedelta(seconds=1)) -> bool:
    """True when consecutive due times are exactly `step` apart (no slot missed, none repeated)."""
    return all(b - a == step for a, b in pairwise(dues))

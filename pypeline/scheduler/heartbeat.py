"""Beat liveness through a file: a running beat touches it every tick; a health check reads its age."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from pypeline.scheduler.clock import SYSTEM_CLOCK, Clock

__all__ = ["Heartbeat", "heartbeat_age"]

log = logging.getLogger(__name__)


class Heartbeat:
    """Touch `path` at most once per `every` seconds (an unwritable path is logged once, never fatal)."""

    def __init__(self, path: Path, every: float = 1.0, clock: Clock = SYSTEM_CLOCK) -> None:
        self.path = path
        self.clock = clock
        self.every = every
        self._last = float("-inf")
        self._warned = False

    def beat(self) -> None:
        """Record that the beat loop is alive."""
        now = self.clock.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        try:
            os.utime(self.path)  # one syscall per second when the file exists
        except FileNotFoundError:
            self._create()
        except OSError as exc:
            self._warn(exc)

    def _create(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
        except OSError as exc:
            self._warn(exc)

    def _warn(self, exc: OSError) -> None:
        if not self._warned:
            log.warning("beat heartbeat file %s cannot be written: %s", self.path, exc)
            self._warned = True


def heartbeat_age(path: Path) -> float | None:
    """Seconds since the heartbeat file was last touched, or None if there is none."""
    try:
        return max(time.time() - path.stat().st_mtime, 0.0)
    except FileNotFoundError:
        return None

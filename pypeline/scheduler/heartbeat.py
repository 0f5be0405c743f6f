"""Beat liveness through a file: a running beat touches it every tick; a health check reads its age."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

__all__ = ["Heartbeat", "heartbeat_age"]

log = logging.getLogger(__name__)


class Heartbeat:
    """Touch `path` at most once per `every` seconds (an unwritable path is logged once, never fatal)."""

    def __init__(self, path: Path, every: float = 1.0) -> None:
        self.path = path
        self.every = every
        self._last = float("-inf")
        self._warned = False

    def beat(self) -> None:
        """Record that the beat loop is alive."""
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
            os.utime(self.path)
        except OSError as exc:
            if not self._warned:
                log.warning("beat heartbeat file %s cannot be written: %s", self.path, exc)
                self._warned = True


def heartbeat_age(path: Path) -> float | None:
    """Seconds since the heartbeat file was last touched, or None if there is none."""
    try:
        return max(time.time() - path.stat().st_mtime, 0.0)
    except FileNotFoundError:
        return None

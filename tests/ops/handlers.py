"""Handlers of the operations tests (run in embedded, in-process workers)."""
from __future__ import annotations

import logging
import sys
import threading
from typing import Any

log = logging.getLogger("tests.ops.handlers")
#: Runs of `held` wait until this is set (tests of maxActiveRuns).
RELEASE = threading.Event()
#: Run records received by `on_finished` (the notify handler).
NOTIFIED: list[dict[str, Any]] = []


def chatty(event: dict[str, Any]) -> dict[str, Any]:
    """Print and log lines tagged with the payload's marker, interleaved with other threads' nodes."""
    marker = event["chain_payload"]["marker"]
    for i in range(int(event["chain_payload"].get("lines", 5))):
        print(f"out {marker} {i}")
        print(f"err {marker} {i}", file=sys.stderr)
        log.warning("log %s %d", marker, i)
    return {"marker": marker}


def held(event: dict[str, Any]) -> str:
    """Wait (at most 30 s) until the test releases it."""
    RELEASE.wait(30)
    return "done"


def fails(event: dict[str, Any]) -> None:
    """Always fail."""
    raise RuntimeError("boom")


def on_finished(run: dict[str, Any]) -> None:
    """The notify handler: remember the run record."""
    NOTIFIED.append(run)


def two_args(run: dict[str, Any], extra: str) -> None:
    """Not usable as a notify handler (needs two arguments)."""

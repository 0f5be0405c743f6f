"""Handlers of the sub-pipeline tests (embedded workers and real worker processes)."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

#: Runs of `held` wait until this is set (embedded workers), or until the file in $SUBPIPE_GATE exists.
RELEASE = threading.Event()
#: Run records received by `on_finished` (the notify handler).
NOTIFIED: list[dict[str, Any]] = []


def prepare(event: dict[str, Any]) -> dict[str, Any]:
    """Pass the payload's `x` on."""
    return {"x": event["chain_payload"]["x"]}


def double(event: dict[str, Any]) -> int:
    """Child node: double the parent's upstream `prepare.x` (the child payload is the parent node's input)."""
    return int(event["chain_payload"]["upstream"]["prepare"]["x"]) * 2


def finish(event: dict[str, Any]) -> int:
    """Parent node after the sub-pipeline: the child's result document, plus one."""
    return int(event["upstream"]["sub"]["double"]) + 1


def fails(event: dict[str, Any]) -> None:
    """Always fail."""
    raise RuntimeError("child boom")


def held(event: dict[str, Any]) -> str:
    """Wait (at most 60 s) for the test's release: the event in-process, or the gate file across processes."""
    gate = os.environ.get("SUBPIPE_GATE")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if RELEASE.is_set() or (gate and Path(gate).exists()):
            return "released"
        time.sleep(0.05)
    return "gave up"


def held_then_fails(event: dict[str, Any]) -> None:
    """Wait for the test's release like `held`, then fail."""
    raise RuntimeError(f"child boom after {held(event)}")


def on_finished(run: dict[str, Any]) -> None:
    """Notify handler: remember the run record."""
    NOTIFIED.append(run)


def fan(event: dict[str, Any]) -> list[int]:
    """Split: one element per item of the payload's `items`."""
    return list(event["chain_payload"]["items"])


def echo(event: dict[str, Any]) -> int:
    """Child node: ten times the split element its parent node received."""
    return int(event["chain_payload"]["upstream"]["fan"]) * 10

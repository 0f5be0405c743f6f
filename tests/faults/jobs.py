"""Handlers of the fault pipelines: each start and end is appended to a side-effect file, so tests count the
REAL executions (run id, node, instance, attempt, pid, token) independently of what the store recorded."""
from __future__ import annotations

import os
import time
import uuid
from typing import Any

__all__ = ["EFFECTS_ENV", "step", "fail_once"]

#: Environment variable naming the side-effect file (set on the worker processes by the tests).
EFFECTS_ENV = "PYPELINE_FAULTS_EFFECTS"


def _payload(event: dict[str, Any]) -> dict[str, Any]:
    payload = event.get("chain_payload")
    return payload if isinstance(payload, dict) else {}


def _note(event: dict[str, Any], what: str, token: str) -> None:
    """Append one line; a single O_APPEND write per line keeps concurrent writers from interleaving."""
    path = os.environ.get(EFFECTS_ENV)
    if not path:
        return
    line = (f"{what} {event.get('execution_id')} {event['node']} {event.get('instance') or '-'} "
            f"{event.get('attempt')} {os.getpid()} {token} {time.time():.3f}\n")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _sleep_for(event: dict[str, Any]) -> float:
    """`chain_payload.slow[node]` if given, else `chain_payload.sleep`, else 0.1 s."""
    payload = _payload(event)
    slow = payload.get("slow") or {}
    return float(slow.get(event["node"], payload.get("sleep", 0.1)))


def step(event: dict[str, Any]) -> dict[str, Any]:
    """Sleep (see `_sleep_for`), then return a token naming this very execution (also written to the file)."""
    token = uuid.uuid4().hex[:12]
    _note(event, "start", token)
    time.sleep(_sleep_for(event))
    _note(event, "end", token)
    return {"node": event["node"], "token": token, "attempt": event.get("attempt"), "pid": os.getpid()}


def fail_once(event: dict[str, Any]) -> dict[str, Any]:
    """Fail the first attempt of a run's node; succeed (like `step`) on the retry."""
    token = uuid.uuid4().hex[:12]
    _note(event, "start", token)
    if int(event.get("attempt") or 1) < 2:
        _note(event, "fail", token)
        raise RuntimeError("first attempt fails on purpose")
    _note(event, "end", token)
    return {"node": event["node"], "token": token, "attempt": event.get("attempt"), "pid": os.getpid()}

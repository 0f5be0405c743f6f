"""Readiness checks of the API's dependencies: the broker and the run store."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text

from pypeline.runtime import Runtime

__all__ = ["check_broker", "check_database", "readiness"]

#: Seconds each dependency gets to answer.
CHECK_TIMEOUT_S = 2.0
_CREDENTIALS = re.compile(r"(//[^:/@]*:)[^@]*@")


def _clean(message: str) -> str:
    """Hide passwords that drivers echo in their error messages."""
    return _CREDENTIALS.sub(r"\1***@", message)[:300]


def check_broker(rt: Runtime) -> dict[str, Any]:
    """Connect to the Celery broker once."""
    try:
        with rt.celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_S)
        return {"ok": True}
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return {"ok": False, "error": _clean(f"{type(exc).__name__}: {exc}")}


def check_database(rt: Runtime) -> dict[str, Any]:
    """Run SELECT 1 on the run store."""
    try:
        with rt.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"ok": True}
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return {"ok": False, "error": _clean(f"{type(exc).__name__}: {exc}")}


def readiness(rt: Runtime) -> tuple[dict[str, Any], bool]:
    """Every check and whether all passed."""
    checks = {"broker": check_broker(rt), "database": check_database(rt)}
    ready = all(c["ok"] for c in checks.values())
    return {"status": "ready" if ready else "unavailable", "checks": checks}, ready

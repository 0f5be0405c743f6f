"""Handlers of the Celery-tools end-to-end test."""
from __future__ import annotations

from typing import Any


def extract(event: dict[str, Any]) -> dict[str, Any]:
    """Echo the invocation payload."""
    return {"got": event.get("chain_payload")}


def publish(event: dict[str, Any]) -> str:
    """A second node, after extract."""
    return "published"


def explode(event: dict[str, Any]) -> None:
    """Always fails (the failing node Flower must show as FAILURE)."""
    raise RuntimeError("boom on purpose")

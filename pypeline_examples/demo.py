"""Handlers of the demo pipelines in sermos.yaml.example: plain functions that take `event`."""
from __future__ import annotations

import time
from typing import Any

__all__ = ["fetch", "clean", "enrich", "load", "report", "heartbeat", "flaky", "always_fails", "summarize", "slow"]

_flaky_calls: dict[str, int] = {}


def fetch(event: dict[str, Any]) -> dict[str, Any]:
    """Produce some records from the invocation payload (`chain_payload.count`, default 5)."""
    payload = event.get("chain_payload") or {}
    count = int(payload.get("count", 5))
    return {"records": [{"id": i, "value": i * 10} for i in range(count)]}


def clean(event: dict[str, Any]) -> dict[str, Any]:
    """Drop records with an odd id."""
    records = event["upstream"]["fetch"]["records"]
    return {"records": [r for r in records if r["id"] % 2 == 0]}


def enrich(event: dict[str, Any]) -> dict[str, Any]:
    """Total the values of the fetched records."""
    records = event["upstream"]["fetch"]["records"]
    return {"total": sum(r["value"] for r in records)}


def load(event: dict[str, Any]) -> dict[str, Any]:
    """Fan-in: combine the results of every upstream node (keyed by node name)."""
    upstream = event["upstream"]
    return {"kept": len(upstream["clean"]["records"]), "total": upstream["enrich"]["total"],
            "inputs": sorted(upstream)}


def summarize(event: dict[str, Any]) -> dict[str, Any]:
    """Report which upstream results reached this node."""
    return {"node": event["node"], "saw": sorted(event["upstream"])}


def report() -> str:
    """A scheduled task written without any parameter (accepted, as in the original)."""
    return "report done"


def heartbeat(event: dict[str, Any]) -> dict[str, Any]:
    """A scheduled task that takes an event (a schedule's `payload` is its event)."""
    return {"alive": True, "note": event.get("note")}


def flaky(event: dict[str, Any]) -> str:
    """Fail on the first attempt of each run, succeed on the retry."""
    if event.get("attempt", 1) < 2:
        raise RuntimeError("transient failure, will be retried")
    return "recovered"


def always_fails(event: dict[str, Any]) -> None:
    """Fail every time (to show FAILED runs and SKIPPED descendants)."""
    raise ValueError(f"node {event.get('node')} always fails")


def slow(event: dict[str, Any]) -> dict[str, Any]:
    """Sleep `chain_payload.sleep` seconds (default 2), then report the attempt that finished."""
    payload = event.get("chain_payload") or {}
    time.sleep(float(payload.get("sleep", 2)))
    return {"slept": payload.get("sleep", 2), "attempt": event.get("attempt")}

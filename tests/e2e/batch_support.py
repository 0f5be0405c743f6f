"""Batch test support: handlers workers import (record every key in Redis) and the test config writer.

Workers import this module by path (`tests.e2e.batch_support.record`), so it must not import pytest.
"""
from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis

__all__ = ["record", "collect", "collected", "write_config", "TEMPLATE"]

TEMPLATE = Path(__file__).with_name("batches.yaml")

_clients: dict[str, redis.Redis] = {}
_collected: list[Any] = []
_lock = threading.Lock()


def record(event: dict[str, Any]) -> dict[str, Any]:
    """Pipeline node: push the chunk's keys to Redis list `chain_payload.record_list` (optional sleep/failure)."""
    payload = event["chain_payload"]
    keys = payload["keys"]
    if payload.get("fail_chunk") == payload["chunk"]:
        raise ValueError(f"chunk {payload['chunk']} fails on purpose")
    if payload.get("sleep"):
        time.sleep(float(payload["sleep"]))
    url, name = payload.get("redis_url"), payload.get("record_list")
    if url and name:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = redis.Redis.from_url(url)
        client.rpush(name, *keys)
    return {"chunk": payload["chunk"], "count": len(keys)}


def collect(event: dict[str, Any]) -> int:
    """Plain task: remember the event in this process (for publish_work tests with an in-process worker)."""
    with _lock:
        _collected.append(event)
    return len(_collected)


def collected() -> list[Any]:
    """Events `collect` received so far in this process."""
    with _lock:
        return list(_collected)


def write_config(folder: Path, *, data_dir: Path | str = "/nonexistent", bucket: str = "none",
                 endpoint: str = "http://127.0.0.1:9", queue: str | None = None) -> tuple[Path, str]:
    """Write the batch test config into `folder` with its placeholders filled; returns (path, unique queue)."""
    queue = queue or f"pypeline-test-{uuid.uuid4().hex[:8]}"
    text = (TEMPLATE.read_text().replace("@DATA_DIR@", str(data_dir)).replace("@BUCKET@", bucket)
            .replace("@S3_ENDPOINT@", endpoint).replace("pypeline-demo", queue))
    path = folder / "batches.yaml"
    path.write_text(text)
    return path, queue

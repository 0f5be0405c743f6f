"""Fixtures for dashboard tests: the API stack of tests/api plus a real HTTP server in a thread."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.api.conftest import Stack, make_stack


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Stack:
    """One app per test module on Redis + a SQLite store (no worker)."""
    tmp = tmp_path_factory.mktemp("web")
    return make_stack(tmp, redis_url, f"sqlite:///{tmp / 'store.sqlite'}")


@pytest.fixture()
def pg_stack(tmp_path: Path, redis_url: str, postgres_url: str) -> Stack:
    """App on Redis + PostgreSQL."""
    return make_stack(tmp_path, redis_url, postgres_url)


@contextmanager
def serve(stack: Stack) -> Iterator[str]:
    """Serve the stack's app with werkzeug's threaded server on 127.0.0.1:<free port>; yields the base URL."""
    server = make_server("127.0.0.1", 0, stack.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="dashboard-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)

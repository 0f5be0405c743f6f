"""Fixtures of the hostile-input suite: one API stack on Redis + a private PostgreSQL database per module."""
from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest

from pypeline.runtime import Runtime
from pypeline.services import keys as key_service
from pypeline.settings import Settings
from tests.api.conftest import Stack, make_stack
from tests.conftest import unique_queue_config


@contextmanager
def _private_database(postgres_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    import sqlalchemy as sa

    from pypeline.store import db

    name = f"pypeline_h_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = postgres_server.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        engine = db._engines.pop(url, None)
        if engine is not None:
            engine.dispose()
        db._migrated.discard(url)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="module")
def pg_module_stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str,
                    postgres_server: str) -> Iterator[Stack]:
    """An app on Redis + a fresh PostgreSQL database (NUL bytes and NaN reach PostgreSQL's own checks there)."""
    with _private_database(postgres_server) as url:
        yield make_stack(tmp_path_factory.mktemp("hostile"), redis_url, url)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiServer(NamedTuple):
    """A running `pypeline api` process: its port, a write key and its log file."""

    port: int
    key: str
    log: Path


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory, redis_url: str,
               postgres_server: str) -> Iterator[ApiServer]:
    """`pypeline api` under gunicorn (2 threads) on Redis + PostgreSQL and a free port; yields (port, write key)."""
    tmp = tmp_path_factory.mktemp("api-server")
    config, _ = unique_queue_config(tmp)
    with _private_database(postgres_server) as db:
        yield from _serve(tmp, config, redis_url, db)


def _serve(tmp: Path, config: Path, redis_url: str, db: str) -> Iterator[ApiServer]:
    rt = Runtime.from_path(str(config), Settings(config_path=str(config), broker_url=redis_url, database_url=db,
                                                 home=tmp / "home"), register=False)
    key = key_service.create_key(rt, "hostile", "write").token
    port = _free_port()
    exe = shutil.which("pypeline")
    cmd = [exe] if exe else [sys.executable, "-m", "pypeline"]
    log = (tmp / "api.log").open("wb")
    proc = subprocess.Popen([*cmd, "api", str(config), "--server", "gunicorn", "--port", str(port), "-w", "1",
                             "--threads", "2", "--broker", redis_url, "--database", db],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp, start_new_session=True,
                            env={**os.environ, "PYPELINE_HOME": str(tmp / "home")})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/v1/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"pypeline api did not come up:\n{(tmp / 'api.log').read_text()[-3000:]}")
            time.sleep(0.2)
        yield ApiServer(port, key, tmp / "api.log")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()

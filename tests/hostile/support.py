"""Hostile-suite support: a real `pypeline api` server process (gunicorn) on a free port."""
from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from pypeline.runtime import Runtime
from pypeline.services import keys as key_service
from pypeline.settings import Settings
from tests.helpers import free_port, stop_process_group, wait_until

__all__ = ["ApiServer", "serve_api"]


class ApiServer(NamedTuple):
    """A running `pypeline api` process: its port, a write key and its log file."""

    port: int
    key: str
    log: Path


def _tail(tmp: Path) -> str:
    return (tmp / "api.log").read_text(errors="replace")[-3000:]


def serve_api(tmp: Path, config: Path, redis_url: str, db: str) -> Iterator[ApiServer]:
    """Run `pypeline api` under gunicorn on a free port until the generator is closed; yields the ApiServer."""
    rt = Runtime.from_path(str(config), Settings(config_path=str(config), broker_url=redis_url, database_url=db,
                                                 home=tmp / "home"), register=False)
    key = key_service.create_key(rt, "hostile", "write").token
    port = free_port()
    exe = shutil.which("pypeline")
    cmd = [exe] if exe else [sys.executable, "-m", "pypeline"]
    log = (tmp / "api.log").open("wb")
    proc = subprocess.Popen([*cmd, "api", str(config), "--server", "gunicorn", "--port", str(port), "-w", "1",
                             "--threads", "2", "--broker", redis_url, "--database", db],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp, start_new_session=True,
                            env={**os.environ, "PYPELINE_HOME": str(tmp / "home")})
    try:
        def _up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"pypeline api exited with {proc.returncode}:\n{_tail(tmp)}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/v1/health")
                return conn.getresponse().status == 200
            except OSError:
                return False

        wait_until(_up, 60, interval=0.1, message="pypeline api did not come up", report=lambda: _tail(tmp))
        yield ApiServer(port, key, tmp / "api.log")
    finally:
        stop_process_group(proc)
        log.close()

"""`pypeline api FILE` serves the app for real (werkzeug and gunicorn) on 127.0.0.1."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pypeline.config import load_config
from pypeline.runtime import Runtime
from pypeline.services import keys as key_service
from pypeline.settings import Settings
from tests.helpers import free_port, unique_queue_config, wait_until


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize("server", ["werkzeug", "gunicorn"])
def test_api_command_serves(tmp_path: Path, redis_url: str, server: str) -> None:
    if server == "gunicorn":
        pytest.importorskip("gunicorn")
    config, _ = unique_queue_config(tmp_path)
    database = f"sqlite:///{tmp_path / 'store.sqlite'}"
    rt = Runtime(None, Settings(database_url=database, home=tmp_path / "home"), register=False)
    token = key_service.create_key(rt, "cli-test", "read").token
    port = free_port()
    env = {**os.environ, "PYPELINE_HOME": str(tmp_path / "home"), "PYPELINE_SECRET_KEY": "test"}
    exe = shutil.which("pypeline")
    cmd = [exe] if exe else [sys.executable, "-m", "pypeline"]
    log = open(tmp_path / "api.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([*cmd, "api", str(config), "--port", str(port), "--server", server, "--broker", redis_url,
                             "--database", database, "--workers", "1"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def _health() -> tuple[int, bytes] | None:
            assert proc.poll() is None, (tmp_path / "api.log").read_text()
            try:
                return _get(base + "/api/v1/health")
            except OSError:
                return None

        status, body = wait_until(_health, 30, interval=0.2, message="pypeline api answers",
                                  report=lambda: (tmp_path / "api.log").read_text())
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert _get(base + "/api/v1/ready")[0] == 200
        assert _get(base + "/api/v1/pipelines/")[0] == 401
        status, body = _get(base + "/api/v1/pipelines/", {"accesskey": token})
        declared = list(load_config(config, check_handlers=False).pipelines)
        assert status == 200 and [p["id"] for p in json.loads(body)] == declared and "demo" in declared
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
        log.close()

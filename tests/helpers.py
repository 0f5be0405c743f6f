"""Importable test helpers: service URLs, polling waits, real worker processes and the config+store+worker stack.

Fixtures stay in `conftest.py` modules; everything a test imports by name lives here (or, when only one test
package uses it, in that package's `support.py`).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlparse

import pytest
import yaml

from pypeline.runtime import Runtime
from pypeline.settings import Settings

__all__ = ["ROOT", "EXAMPLE", "IN_CI", "REDIS_URL", "AMQP_URL", "POSTGRES_URL", "require_service", "reachable",
           "unique_queue_config", "wait_until", "poll_until", "assert_stays", "WorkerProcess", "wait_for_log",
           "worker_env", "client_runtime", "Stack", "fresh_database", "WebhookReceiver", "webhook_receiver",
           "unavailable", "free_port", "stop_process_group"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "sermos.yaml.example"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

REDIS_URL = os.environ.get("PYPELINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("PYPELINE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES_URL = os.environ.get("PYPELINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

T = TypeVar("T")
V = TypeVar("V")


# ------------------------------------------------------------------------------------------------- services
def reachable(url: str) -> bool:
    """Whether something accepts TCP connections at the URL's host and port."""
    parsed = urlparse(url.replace("postgresql+psycopg", "postgresql"))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), timeout=1.0):
            return True
    except OSError:
        return False


def unavailable(message: str, ci_note: str = "") -> NoReturn:
    """Skip the test for a missing prerequisite; fail it under CI=true, where every prerequisite must be there."""
    if IN_CI:
        pytest.fail(f"{message} ({ci_note})" if ci_note else message)
    pytest.skip(message)


def require_service(name: str, url: str) -> str:
    """Return `url` if the service answers; skip locally, fail under CI=true (a missing service is a failure)."""
    if reachable(url):
        return url
    unavailable(f"{name} is not reachable at {url}", "CI=true: required services must run")


def stop_process_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    """Send `sig` to the process group of a `start_new_session` child; SIGKILL it if still alive after `timeout`."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def fresh_database(postgres_server: str, prefix: str = "pypeline_t_") -> Iterator[str]:
    """A new, empty database on the PostgreSQL server; dropped (and the store's cached engine disposed) after."""
    import sqlalchemy as sa

    from pypeline.store import db

    name = f"{prefix}{uuid.uuid4().hex[:12]}"
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


def unique_queue_config(tmp_path: Path, source: Path = EXAMPLE, queue: str | None = None) -> tuple[Path, str]:
    """Copy a config with its queues renamed to a unique queue, so tests on shared brokers never collide."""
    queue = queue or f"pypeline-test-{uuid.uuid4().hex[:8]}"
    text = source.read_text().replace("pypeline-demo", queue).replace("${PYPELINE_DEMO_QUEUE:" + queue + "}", queue)
    path = tmp_path / source.name
    path.write_text(text)
    return path, queue


# ---------------------------------------------------------------------------------------------------- waits
def _poll(fetch: Callable[[], V], done: Callable[[V], Any], timeout: float, interval: float, message: str,
          report: Callable[[], str] | None) -> V:
    """The one polling loop: fetch until `done(value)`; the last look happens after the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        expired = time.monotonic() > deadline
        value = fetch()
        if done(value):
            return value
        if expired:
            extra = f"\n{report()}" if report is not None else ""
            raise AssertionError(f"{message or 'condition'}: not reached within {timeout:g} s "
                                 f"(last value: {value!r}){extra}")
        time.sleep(interval)


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05, message: str = "",
               report: Callable[[], str] | None = None) -> T:
    """Poll `predicate` until it returns a truthy value and return that value.

    After `timeout` seconds raise AssertionError naming `message`, the last value seen and `report()` (a log,
    the store's view...). The predicate is checked once more after the deadline, so a slow poll never fails a
    condition that did become true.
    """
    return _poll(predicate, bool, timeout, interval, message, report)


def poll_until(fetch: Callable[[], V], done: Callable[[V], Any], timeout: float = 30.0, interval: float = 0.05,
               message: str = "", report: Callable[[], str] | None = None) -> V:
    """Fetch a value (a status document, a record...) until `done(value)`; return it, or fail showing the last one."""
    return _poll(fetch, done, timeout, interval, message, report)


def assert_stays(predicate: Callable[[], Any], duration: float, interval: float = 0.05, message: str = "") -> None:
    """Check that `predicate` holds for `duration` seconds (polled every `interval`); fail at the first miss."""
    deadline = time.monotonic() + duration
    while True:
        value = predicate()
        if not value:
            raise AssertionError(f"{message or 'condition'}: stopped holding (value: {value!r})")
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)


# --------------------------------------------------------------------------------------------------- worker
class WorkerProcess:
    """A real `pypeline worker` child process (own session, so a signal reaches its pool), stopped on demand."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    @classmethod
    def start(cls, config: Path | str, *args: str, env: dict[str, str] | None = None, cwd: Path,
              log_path: Path | None = None, ready: bool = True, timeout: float = 60.0) -> WorkerProcess:
        """Start `pypeline worker CONFIG [args]` in `cwd` with `env` over os.environ; wait for "ready." if asked."""
        log_path = log_path or cwd / f"worker-{uuid.uuid4().hex[:6]}.log"
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        # Workers run in a temp dir: test handler modules (`tests.*`) import from the repo root, as in CI.
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full_env.get("PYTHONPATH", "")]))
        exe = shutil.which("pypeline")
        cmd = [exe] if exe else [sys.executable, "-m", "pypeline"]
        with open(log_path, "wb") as fh:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen([*cmd, "worker", str(config), *args], stdout=fh, stderr=subprocess.STDOUT,
                                    env=full_env, cwd=str(cwd), start_new_session=True)
        worker = cls(proc, log_path)
        if ready:
            try:
                worker.wait_for_log("ready.", timeout=timeout)
            except AssertionError:
                worker.stop(signal.SIGKILL)
                raise
        return worker

    @property
    def alive(self) -> bool:
        """Whether the main process still runs."""
        return self.proc.poll() is None

    def log(self) -> str:
        """What the worker printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, chars: int = 4000) -> str:
        """The end of the log, for failure messages."""
        return self.log()[-chars:]

    def wait_for_log(self, needle: str, timeout: float = 30.0) -> None:
        """Block until `needle` appears in the output; fail with the log (or at once if the worker exits)."""
        def _seen() -> bool:
            if needle in self.log():
                return True
            if not self.alive:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
            return False

        wait_until(_seen, timeout, interval=0.05, message=f"worker did not print {needle!r}", report=self.tail)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Stop the worker (SIGTERM: warm shutdown; SIGKILL: crash); escalate to SIGKILL after `timeout`."""
        stop_process_group(self.proc, sig, timeout)

    def kill(self) -> None:
        """kill -9 the whole process group (main process and pool children): nothing acks or requeues."""
        self.stop(signal.SIGKILL)


def wait_for_log(worker: WorkerProcess, needle: str, timeout: float = 30.0) -> None:
    """Block until `needle` appears in the worker's output (or fail with the log)."""
    worker.wait_for_log(needle, timeout)


# ---------------------------------------------------------------------------------------------------- stack
def worker_env(broker: str, database: str, home: Path, **extra: str) -> dict[str, str]:
    """Environment of a `pypeline worker` on the given broker, store and home."""
    return {"PYPELINE_BROKER_URL": broker, "PYPELINE_DATABASE_URL": database, "PYPELINE_HOME": str(home), **extra}


def client_runtime(config: Path, broker: str, database: str, home: Path, *, register: bool = False,
                   **settings: Any) -> Runtime:
    """A runtime over a config file, broker and store, as a client process (API, CLI, test) builds it."""
    full = Settings(config_path=str(config), broker_url=broker, database_url=database, home=home, **settings)
    return Runtime.from_path(str(config), full, register=register)


@dataclass
class Stack:
    """A config file on a unique queue, a broker, a store and a client runtime over them; workers join on demand."""

    rt: Runtime
    queue: str
    config: Path
    home: Path

    @classmethod
    def create(cls, tmp_path: Path, broker: str, database: str, *, source: Path = EXAMPLE,
               edit: Callable[[dict[str, Any], str], None] | None = None, register: bool = False,
               **settings: Any) -> Stack:
        """Copy `source` with a unique queue (`edit(doc, queue)` may change it first) and build the client runtime."""
        config, queue = unique_queue_config(tmp_path, source)
        if edit is not None:
            doc = yaml.safe_load(config.read_text())
            edit(doc, queue)
            config.write_text(yaml.safe_dump(doc, sort_keys=False))
        home = tmp_path / "home"
        return cls(client_runtime(config, broker, database, home, register=register, **settings), queue, config, home)

    @property
    def broker_url(self) -> str:
        """The broker the runtime publishes to."""
        return str(self.rt.settings.broker_url)

    @property
    def database_url(self) -> str:
        """The store's URL."""
        return str(self.rt.settings.database_url)

    def worker_env(self, **extra: str) -> dict[str, str]:
        """Environment of a `pypeline worker` sharing this stack's broker, store and home."""
        return worker_env(self.broker_url, self.database_url, self.home, **extra)

    def start_worker(self, start: Callable[..., WorkerProcess], *args: str, **extra_env: str) -> WorkerProcess:
        """Start a worker on this stack through the `start_worker` fixture (which stops it after the test)."""
        return start(self.config, *args, env=self.worker_env(**extra_env))


# ------------------------------------------------------------------------------------------------- webhooks
class WebhookReceiver:
    """A local webhook receiver recording each POST (headers, body); answers 500 to the first `fail_first`."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.requests: list[tuple[dict[str, str], bytes]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append((dict(self.headers), body))
                self.send_response(500 if len(hook.requests) <= hook.fail_first else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def webhook_receiver(fail_first: int = 0) -> Iterator[WebhookReceiver]:
    """A running WebhookReceiver, closed on exit."""
    hook = WebhookReceiver(fail_first)
    try:
        yield hook
    finally:
        hook.close()

"""Shared benchmark helpers: DAG shapes, generated configs, a Redis + PostgreSQL worker cluster, machine info."""
from __future__ import annotations

import datetime as dt
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from pypeline.runtime import Runtime
from pypeline.settings import Settings

__all__ = [
    "Adjacency",
    "DEFAULT_REDIS",
    "DEFAULT_POSTGRES",
    "HANDLER",
    "REPO",
    "Cluster",
    "cluster",
    "chain_dag",
    "fan_dag",
    "layered_dag",
    "braided_dag",
    "pipeline_entry",
    "write_config",
    "machine_info",
    "median",
    "fresh_database",
    "tree_peak_rss",
    "free_port",
    "stop_group",
]

REPO = Path(__file__).resolve().parent.parent
#: The trivial task every benchmark node and raw-canvas task runs.
HANDLER = "benchmarks.handlers.noop"
DEFAULT_REDIS = os.environ.get("PYPELINE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
DEFAULT_POSTGRES = os.environ.get("PYPELINE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

Adjacency = dict[str, list[str]]


# ---------------------------------------------------------------- DAG shapes (dagAdjacency dicts)
def chain_dag(n: int) -> Adjacency:
    """c0 -> c1 -> ... -> c{n-1}."""
    return {f"c{i}": ([f"c{i + 1}"] if i + 1 < n else []) for i in range(n)}


def fan_dag(width: int) -> Adjacency:
    """root -> w0..w{width-1} -> join (width + 2 nodes)."""
    adj: Adjacency = {"root": [f"w{i}" for i in range(width)]}
    adj.update({f"w{i}": ["join"] for i in range(width)})
    adj["join"] = []
    return adj


def layered_dag(levels: int, width: int) -> Adjacency:
    """`levels` levels of `width` nodes; every node depends on every node of the previous level."""
    adj: Adjacency = {}
    for k in range(levels):
        nxt = [f"l{k + 1}_{j}" for j in range(width)] if k + 1 < levels else []
        adj.update({f"l{k}_{i}": list(nxt) for i in range(width)})
    return adj


def braided_dag(levels: int, width: int) -> Adjacency:
    """A deep DAG: `levels` levels of `width` nodes; node i of a level feeds nodes i and i+1 of the next."""
    adj: Adjacency = {}
    for k in range(levels):
        for i in range(width):
            adj[f"l{k}_{i}"] = sorted({f"l{k + 1}_{i}", f"l{k + 1}_{(i + 1) % width}"}) if k + 1 < levels else []
    return adj


def pipeline_entry(pid: str, adjacency: Adjacency, *, queue: str, engine: str = "event",
                   processor_queue: str | None = None) -> dict[str, Any]:
    """A sermos.yaml pipeline entry running HANDLER on every node, no retries."""
    metadata: dict[str, Any] = {"queue": queue, "maxRetry": 0, "maxTtl": 600, "engine": engine}
    if processor_queue:
        metadata["processorQueue"] = processor_queue
    return {"name": pid, "schemaVersion": 1, "config": {
        "metadata": metadata,
        "dagAdjacency": {k: v for k, v in adjacency.items() if v},
        "taskDefinitions": {name: {"handler": HANDLER} for name in adjacency},
    }}


def write_config(path: Path, pipelines: dict[str, dict[str, Any]]) -> Path:
    """Write a config declaring HANDLER (also used by raw canvas runs) and the given pipelines."""
    doc = {"serviceConfig": [{"name": "bench", "registeredTasks": [{"handler": HANDLER}]}], "pipelines": pipelines}
    path.write_text(yaml.safe_dump(doc, default_flow_style=None, width=200, sort_keys=False))
    return path


# ---------------------------------------------------------------- measuring
def median(values: list[float]) -> float:
    """Median of the repetitions."""
    return statistics.median(values)


def tree_peak_rss(pid: int) -> dict[int, int]:
    """Peak resident set (VmHWM, bytes) of a process and each of its children, by pid."""
    out: dict[int, int] = {}
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return out
    for proc in procs:
        try:
            with open(f"/proc/{proc.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        out[proc.pid] = int(line.split()[1]) * 1024
        except OSError:
            continue
    return out


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 20.0, kill_timeout: float = 10.0) -> None:
    """SIGTERM a `start_new_session` child's process group; SIGKILL it if still alive after `timeout`."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(kill_timeout)


def machine_info() -> dict[str, str]:
    """Where and when a benchmark ran."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    import celery
    import sqlalchemy

    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "uname": " ".join(platform.uname()),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "celery": celery.__version__,
        "sqlalchemy": sqlalchemy.__version__,
    }


# ---------------------------------------------------------------- services and workers
@contextmanager
def fresh_database(admin_url: str = DEFAULT_POSTGRES) -> Iterator[str]:
    """A new, empty PostgreSQL database for one benchmark run, dropped afterwards."""
    import sqlalchemy as sa

    name = f"pypeline_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        from pypeline.store import db

        for url in [u for u in db._engines if name in u]:
            db._engines.pop(url).dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@dataclass
class Cluster:
    """Worker processes on a Redis broker/result backend with a PostgreSQL store, and a client runtime.

    Several clusters may share one Redis database (benchmarks run side by side): nothing is flushed, each
    cluster's workers get unique node names, and readiness pings only those. Use distinct queue names.
    """

    config: Path
    redis_url: str = DEFAULT_REDIS
    database_url: str = ""
    concurrency: int = 2
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    runtime: Runtime | None = None
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def settings(self, **overrides: Any) -> Settings:
        """Client settings pointing at the cluster."""
        return Settings(config_path=str(self.config), broker_url=self.redis_url, database_url=self.database_url,
                        home=self.config.parent / "home", log_level="WARNING", **overrides)

    def worker_env(self) -> dict[str, str]:
        """Environment of the worker processes."""
        return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                "PYPELINE_BROKER_URL": self.redis_url, "PYPELINE_DATABASE_URL": self.database_url,
                "PYPELINE_HOME": str(self.config.parent / "home"), "PYTHONUNBUFFERED": "1", **self.env}

    @property
    def node_names(self) -> list[str]:
        """Celery node names of this cluster's workers."""
        return [f"bench{i}-{self.token}@{socket.gethostname()}" for i in range(self.workers)]

    def start(self, runtime_factory: Callable[[Settings], Runtime] | None = None) -> Runtime:
        """Start the workers and return a client runtime once every worker answers a ping."""
        log_dir = self.log_dir or self.config.parent
        for i, name in enumerate(self.node_names):
            log = open(log_dir / f"worker-{i}.log", "wb")  # noqa: SIM115 - lives as long as the worker
            cmd = [sys.executable, "-m", "pypeline", "worker", str(self.config), "-c", str(self.concurrency),
                   "-l", "WARNING", "-n", name]
            self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.worker_env(),
                                               cwd=str(log_dir), start_new_session=True))
        rt = (runtime_factory or (lambda s: Runtime.from_path(str(self.config), s, register=False)))(self.settings())
        rt.store  # migrate once here, before timing anything  # noqa: B018
        self.runtime = rt
        self._wait_ready(rt)
        return rt

    def _wait_ready(self, rt: Runtime, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"worker exited with {proc.returncode}; see {self.config.parent}/worker-*.log")
            replies = rt.celery.control.ping(destination=self.node_names, timeout=0.5) or []
            if len(replies) >= self.workers:
                return
        raise RuntimeError("workers did not answer pings")

    def stop(self) -> None:
        """Warm-stop the workers (SIGTERM to their process groups), killing them if they hang."""
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self.procs.clear()

    def purge(self, queues: list[str]) -> None:
        """Drop every message waiting in the given queues (after an abandoned run)."""
        import redis

        client = redis.Redis.from_url(self.redis_url)
        for queue in queues:
            client.delete(queue)


@contextmanager
def _sqlite_store(config: Path) -> Iterator[str]:
    """A fresh SQLite run store next to the benchmark's config (the embedded default)."""
    yield f"sqlite:///{config.parent / 'store.sqlite'}"


@contextmanager
def cluster(config: Path, *, store: str = "postgresql", **kwargs: Any) -> Iterator[Cluster]:
    """A started Cluster on a fresh PostgreSQL database (or SQLite file: `store="sqlite"`); everything is stopped
    and dropped afterwards."""
    admin = kwargs.pop("postgres_admin_url", DEFAULT_POSTGRES)
    with (_sqlite_store(config) if store == "sqlite" else fresh_database(admin)) as database_url:
        c = Cluster(config, database_url=database_url, **kwargs)
        try:
            c.start()
            yield c
        finally:
            c.stop()

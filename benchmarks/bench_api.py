"""Invoke-endpoint throughput and latency under concurrent clients, against a running `pypeline api` server.

A real `pypeline worker` (Redis broker and result backend, fresh PostgreSQL store) runs what the API starts;
the API is served by `pypeline api` in its own process group on 127.0.0.1 (gunicorn and/or werkzeug's threaded
server). `--clients` threads, each with one keep-alive HTTP connection, POST
`/api/v1/pipelines/invoke/<id>` with `{"chain_payload": ...}` until `--requests` invokes are done; latency is
per request (send -> 202), throughput is invokes per wall-clock second. After the burst the benchmark waits
for the worker to finish every run and reports that drain time too.

    python benchmarks/bench_api.py                         # 2000 invokes, 50 clients, gunicorn and werkzeug
    python benchmarks/bench_api.py --quick                 # 300 invokes (smoke run)
    python benchmarks/bench_api.py --servers gunicorn --requests 5000 --write benchmarks/results/api.md
"""
from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    DEFAULT_REDIS,
    HANDLER,
    Cluster,
    chain_dag,
    cluster,
    free_port,
    machine_info,
    pipeline_entry,
    stop_group,
    write_config,
)
from pypeline.services import keys as key_service  # noqa: E402
from pypeline.status import Status  # noqa: E402

#: Upper bound on invokes per burst (the benchmark is bounded by design).
MAX_REQUESTS = 50_000
PIPELINE = "chain3"
QUEUE = "bench-api"


@dataclass
class Burst:
    """Outcome of one burst of invokes."""

    server: str
    clients: int
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0
    drain: float = 0.0
    run_ids: list[str] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in milliseconds (nearest rank)."""
        values = sorted(self.latencies)
        if not values:
            return float("nan")
        rank = min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))
        return values[rank] * 1000

    def row(self) -> str:
        """A markdown table row."""
        ok = len(self.latencies)
        return (f"| {self.server} | {self.clients} | {ok} | {sum(self.errors.values())} | {ok / self.wall:.0f} | "
                f"{self.percentile(50):.1f} | {self.percentile(90):.1f} | {self.percentile(99):.1f} | "
                f"{max(self.latencies) * 1000:.1f} | {self.drain:.1f} |")


def _start_api(c: Cluster, server: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "pypeline", "api", str(c.config), "--host", "127.0.0.1", "--port", str(port),
           "--server", server, "--workers", "2", "--threads", "16"]
    env = {**c.worker_env(), "PYPELINE_SECRET_KEY": "bench"}
    proc = subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env,  # noqa: SIM115
                            cwd=str(c.config.parent), start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"api exited with {proc.returncode}; see {log}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/ready")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"api did not become ready; see {log}")


def _client(port: int, key: str, budget: list[int], lock: threading.Lock, burst: Burst) -> None:
    body = json.dumps({"chain_payload": {"n": 1}}).encode()
    headers = {"Content-Type": "application/json", "accesskey": key}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while True:
        with lock:
            if budget[0] <= 0:
                break
            budget[0] -= 1
        start = time.perf_counter()
        try:
            conn.request("POST", f"/api/v1/pipelines/invoke/{PIPELINE}", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            with lock:
                burst.errors[type(exc).__name__] = burst.errors.get(type(exc).__name__, 0) + 1
            continue
        elapsed = time.perf_counter() - start
        with lock:
            if resp.status == 202:
                burst.latencies.append(elapsed)
                burst.run_ids.append(json.loads(data)["run_id"])
            else:
                burst.errors[str(resp.status)] = burst.errors.get(str(resp.status), 0) + 1
    conn.close()


def burst(port: int, key: str, requests: int, clients: int, server: str) -> Burst:
    """Send `requests` invokes from `clients` threads; returns latencies and errors."""
    result = Burst(server=server, clients=clients)
    budget, lock = [min(requests, MAX_REQUESTS)], threading.Lock()
    threads = [threading.Thread(target=_client, args=(port, key, budget, lock, result)) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.wall = time.perf_counter() - start
    return result


def _drain(c: Cluster, run_ids: list[str], timeout: float) -> float:
    """Seconds until every run of the burst is terminal."""
    assert c.runtime is not None
    start, pending = time.perf_counter(), set(run_ids)
    while pending and time.perf_counter() - start < timeout:
        pending = {r for r in pending if not c.runtime.store.run_status(r).is_terminal}
        if pending:
            time.sleep(0.25)
    if pending:
        raise RuntimeError(f"{len(pending)} runs unfinished after {timeout}s")
    failed = [r for r in run_ids if c.runtime.store.run_status(r) != Status.SUCCESS]
    if failed:
        raise RuntimeError(f"{len(failed)} runs did not succeed, e.g. {failed[0]}")
    return time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print (or write) a markdown report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help=f"invokes per burst (max {MAX_REQUESTS})")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--servers", default="gunicorn,werkzeug")
    parser.add_argument("--concurrency", type=int, default=4, help="worker processes (-c)")
    parser.add_argument("--quick", action="store_true", help="300 invokes per burst")
    parser.add_argument("--write", type=Path, default=None, help="write the markdown report to this file")
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    args = parser.parse_args()
    requests = 300 if args.quick else args.requests

    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        config = write_config(Path(tmp) / "bench.yaml",
                              {PIPELINE: pipeline_entry(PIPELINE, chain_dag(3), queue=QUEUE)})
        results: list[Burst] = []
        with cluster(config, redis_url=args.redis, concurrency=args.concurrency,
                     env={"PYPELINE_BENCH": "1"}) as c:
            assert c.runtime is not None
            key = key_service.create_key(c.runtime, "bench", "write").token
            for server in [s.strip() for s in args.servers.split(",") if s.strip()]:
                port = free_port()
                api = _start_api(c, server, port, Path(tmp) / f"api-{server}.log")
                try:
                    burst(port, key, 50, 10, server)  # warm-up: connections, imports, JIT-free caches
                    result = burst(port, key, requests, args.clients, server)
                    result.drain = _drain(c, result.run_ids, timeout=600)
                    results.append(result)
                    print(result.row(), flush=True)
                finally:
                    stop_group(api)
    report = _report(results, requests, args)
    print(report)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(report)


def _report(results: list[Burst], requests: int, args: Any) -> str:
    info = machine_info()
    lines = [
        "# API benchmark: invoke endpoint under concurrent clients",
        "",
        f"- date: {info['date']}",
        f"- machine: {info['uname']}; {info['nproc']} CPUs ({info['cpu']}); Python {info['python']}, "
        f"Celery {info['celery']}, SQLAlchemy {info['sqlalchemy']}",
        f"- setup: `pypeline api` on 127.0.0.1 (gunicorn: 2 workers x 16 threads; werkzeug: threaded), "
        f"one `pypeline worker -c {args.concurrency}` (prefork), Redis broker + result backend, PostgreSQL "
        f"store; all on the same machine as the clients",
        f"- load: {requests} `POST /api/v1/pipelines/invoke/{PIPELINE}` (3-node chain of `{HANDLER}`) from "
        f"{args.clients} client threads, keep-alive `http.client` connections, write API key in `accesskey`",
        "- latency: send -> 202 per request; throughput: accepted invokes / wall time of the burst; drain: "
        "seconds after the burst until the worker finished every run",
        "- caveat: clients, API, worker, Redis and PostgreSQL share the same CPUs (and other jobs may run): "
        "read the numbers as a floor on this machine, not a capacity figure",
        "- command: `python benchmarks/bench_api.py" + (" --quick" if args.quick else "") + "`",
        "",
        "| server | clients | accepted | errors | invokes/s | p50 ms | p90 ms | p99 ms | max ms | drain s |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[r.row() for r in results],
        "",
    ]
    for r in results:
        if r.errors:
            lines.append(f"Errors ({r.server}): {r.errors}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

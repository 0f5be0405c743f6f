"""Scale: 1k- and 10k-node DAGs (wide and deep) on the event engine; orchestrator memory and message size.

For each DAG a fresh `pypeline worker -c 2` (Redis broker + result backend, fresh PostgreSQL store) and a
fresh client process run it to completion. Recorded: the client's and each worker process's resident set
after start-up (config loaded) and at peak (VmHWM), the largest task message any process published (a
`before_task_publish` probe, see benchmarks/handlers.py) and the number of messages.

    python benchmarks/bench_scale.py            # wide/deep at 1k and 10k nodes, + dyrygent at 1k for contrast
    python benchmarks/bench_scale.py --quick    # 200- and 1k-node DAGs only (< 1 minute)
    python benchmarks/bench_scale.py --scaling  # 10k-node wide DAG vs raw group on 1, 2 and 4 worker processes

`--scaling` measures throughput (nodes/s, submit -> run terminal) of a 10,000-node wide DAG on the event engine
and of a raw Celery `group` of as many no-op tasks, on 1, 2 and 4 `pypeline worker` processes (each its own
`celery worker`, `-c 1` by default: one pool process each). Every worker count gets a fresh cluster and
PostgreSQL store; repetitions alternate raw and engine so load drift hits both alike.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    DEFAULT_POSTGRES,
    DEFAULT_REDIS,
    REPO,
    Adjacency,
    braided_dag,
    cluster,
    fan_dag,
    machine_info,
    pipeline_entry,
    tree_peak_rss,
    write_config,
)
from benchmarks.handlers import message_stats  # noqa: E402

QUEUE = "scale"
MB = 1024 * 1024


@dataclass(frozen=True)
class Shape:
    """One DAG to run."""

    name: str
    adjacency: Callable[[], Adjacency]
    engine: str = "event"


SHAPES: dict[str, Shape] = {s.name: s for s in (
    Shape("wide-200", lambda: fan_dag(198)),
    Shape("deep-200", lambda: braided_dag(10, 20)),
    Shape("wide-1k", lambda: fan_dag(998)),
    Shape("deep-1k", lambda: braided_dag(10, 100)),
    Shape("wide-10k", lambda: fan_dag(9998)),
    Shape("deep-10k", lambda: braided_dag(100, 100)),
    Shape("wide-1k-dyrygent", lambda: fan_dag(998), engine="dyrygent"),
    Shape("deep-1k-dyrygent", lambda: braided_dag(10, 100), engine="dyrygent"),
)}
FULL = ("wide-1k", "wide-10k", "deep-1k", "deep-10k", "wide-1k-dyrygent", "deep-1k-dyrygent")
QUICK = ("wide-200", "wide-1k", "deep-200", "deep-1k")


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(ln.split()[1]) * 1024 for ln in fh if ln.startswith("VmRSS:"))


def client_main(config: str, pipeline: str, redis_url: str, database_url: str, tick: float) -> None:
    """Child-process entry: load the config, invoke, wait; print one JSON line of measurements."""
    from pypeline.runtime import Runtime
    from pypeline.services.invoke import invoke
    from pypeline.settings import Settings

    settings = Settings(config_path=config, broker_url=redis_url, database_url=database_url,
                        home=Path(config).parent / "home", dyrygent_tick=tick)
    rt = Runtime.from_path(config, settings, register=False)
    rt.store  # noqa: B018 - connect and migrate before measuring
    rt.dag(pipeline)
    loaded = _rss(os.getpid())
    start = time.perf_counter()
    run_id = invoke(rt, pipeline)
    run = rt.wait(run_id, 1800, poll=0.05)
    elapsed = time.perf_counter() - start
    print(json.dumps({"status": run["status"], "seconds": elapsed, "nodes": run["nodes_total"],
                      "client_loaded": loaded, "client_peak": tree_peak_rss(os.getpid())[os.getpid()]}))


def measure(shape: Shape, tmp: Path, concurrency: int, tick: float, redis_url: str = DEFAULT_REDIS,
            postgres: str = DEFAULT_POSTGRES) -> dict[str, Any]:
    """Run one DAG on a fresh worker and client; return memory, message and time figures."""
    adjacency = shape.adjacency()
    pid = shape.name.replace("-", "_")
    queue = f"{QUEUE}-{uuid.uuid4().hex[:8]}"  # private queues: benchmarks may share the broker
    config = write_config(tmp / f"{pid}.yaml", {pid: pipeline_entry(pid, adjacency, queue=queue, engine=shape.engine,
                                                                    processor_queue=f"{queue}-orchestrator")})
    probe = {"PYPELINE_BENCH_MSG_STATS": redis_url, "PYPELINE_BENCH_MSG_KEY": f"pypeline-bench:msg:{uuid.uuid4()}"}
    with cluster(config, concurrency=concurrency, env=probe, redis_url=redis_url, postgres_admin_url=postgres) as c:
        worker_pid = c.procs[0].pid
        baseline = {p: _rss(p) for p in tree_peak_rss(worker_pid)}
        env = c.worker_env()
        cmd = [sys.executable, "-m", "benchmarks.bench_scale", "--client", str(config), pid, c.redis_url,
               c.database_url, str(tick)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(REPO), timeout=2400)
        if out.returncode != 0:
            raise RuntimeError(f"client failed:\n{out.stderr[-3000:]}")
        client = json.loads(out.stdout.strip().splitlines()[-1])
        peaks = tree_peak_rss(worker_pid)
        msgs = message_stats(c.redis_url, probe["PYPELINE_BENCH_MSG_KEY"])
    return {
        "shape": shape.name, "engine": shape.engine, "nodes": len(adjacency),
        "edges": sum(len(v) for v in adjacency.values()), "status": client["status"], "seconds": client["seconds"],
        "client_loaded_mb": client["client_loaded"] / MB, "client_peak_mb": client["client_peak"] / MB,
        "worker_loaded_mb": {str(p): v / MB for p, v in baseline.items()},
        "worker_peak_mb": {str(p): v / MB for p, v in peaks.items()},
        "max_message_bytes": msgs["max_bytes"], "messages": msgs["messages"],
    }


#: Worker-process counts of the scaling row.
SCALING_WORKERS = (1, 2, 4)


def measure_scaling(nodes: int, workers: int, reps: int, tmp: Path, per_worker: int = 1,
                    redis_url: str = DEFAULT_REDIS, postgres: str = DEFAULT_POSTGRES) -> dict[str, Any]:
    """Throughput of a `nodes`-node wide DAG and of a raw group of `nodes` tasks on `workers` worker processes."""
    from benchmarks.bench_engines import Workload, _raw_group, _time_engine, _time_raw

    queue = f"{QUEUE}-{uuid.uuid4().hex[:8]}"
    pid, warm = f"wide_{nodes}_w{workers}", f"warm_w{workers}"
    entries = {p: pipeline_entry(p, adj, queue=queue, processor_queue=f"{queue}-orchestrator")
               for p, adj in ((pid, fan_dag(nodes - 2)), (warm, fan_dag(4 * workers)))}
    config = write_config(tmp / f"scaling-{workers}.yaml", entries)
    raw = Workload(f"raw{nodes}", lambda: fan_dag(nodes - 2), _raw_group(nodes), "group", 0.8, reps=1)
    raw_warm = Workload("rawwarm", lambda: fan_dag(4 * workers), _raw_group(4 * workers + 2), "group", 0.0, reps=1)
    times: dict[str, list[float]] = {"raw": [], "event": []}
    with cluster(config, workers=workers, concurrency=per_worker, redis_url=redis_url,
                 postgres_admin_url=postgres) as c:
        rt = c.runtime
        assert rt is not None
        try:
            for _ in range(2):  # warm every worker's connections and imports, untimed
                _time_raw(rt, raw_warm, timeout=120)
                _time_engine(rt, warm, 120)
            for _ in range(reps):
                times["raw"].append(_time_raw(rt, raw, timeout=1800))
                times["event"].append(_time_engine(rt, pid, 1800))
        except BaseException:
            c.purge([queue, f"{queue}-orchestrator"])  # an interrupted run leaves no tasks on the shared broker
            raise
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"workers": workers, "per_worker": per_worker, "nodes": nodes, "times": times,
            "raw_per_s": nodes / med["raw"], "event_per_s": nodes / med["event"],
            "ratio": med["raw"] / med["event"]}


def scaling_markdown(rows: list[dict[str, Any]], target: float = 0.8) -> str:
    """The scaling table: nodes/s of raw group and event engine per worker-process count, ratio and speed-up."""
    lines = ["| worker processes | nodes | raw group | event engine | event / raw | event speed-up vs 1 | "
             f"≥ {target}× raw |", "|---|---|---|---|---|---|---|"]
    base = next((r["event_per_s"] for r in rows if r["workers"] == 1), None)
    for r in rows:
        speedup = f"{r['event_per_s'] / base:.2f}×" if base else "-"
        met = "yes" if r["ratio"] >= target else "**no**"
        lines.append(f"| {r['workers']} × `-c {r['per_worker']}` | {r['nodes']:,} | {r['raw_per_s']:.0f} nodes/s "
                     f"| {r['event_per_s']:.0f} nodes/s | {r['ratio']:.2f}× | {speedup} | {met} |")
    return "\n".join(lines)


def scaling_main(args: argparse.Namespace) -> dict[str, Any]:
    """Run the scaling row for every requested worker count; prints and returns the table."""
    report: dict[str, Any] = {"machine": machine_info(), "scaling": []}
    with tempfile.TemporaryDirectory(prefix="pypeline-scaling-") as tmp:
        for workers in args.workers:
            row = measure_scaling(args.nodes, workers, args.reps, Path(tmp), args.per_worker, args.redis,
                                  args.postgres)
            print(f"  {workers} worker(s): raw {row['raw_per_s']:.0f}/s, event {row['event_per_s']:.0f}/s",
                  file=sys.stderr)
            report["scaling"].append(row)
    return _publish(report, scaling_markdown(report["scaling"]), args.json_path)


def markdown(rows: list[dict[str, Any]]) -> str:
    """The results table (RSS in MB: after start-up with the config loaded -> peak during the run)."""
    lines = ["| DAG | engine | nodes | edges | time | client RSS | worker main RSS | worker pool RSS (largest) "
             "| largest message | messages |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        loaded, peak = r["worker_loaded_mb"], r["worker_peak_mb"]
        main_pid, *children = list(peak)  # tree_peak_rss lists the worker's main process first
        child = max(children, key=lambda p: peak[p]) if children else main_pid
        lines.append(
            f"| {r['shape']} | {r['engine']} | {r['nodes']:,} | {r['edges']:,} | {r['seconds']:.1f} s "
            f"({r['nodes'] / r['seconds']:.0f} nodes/s) | {r['client_loaded_mb']:.0f} → {r['client_peak_mb']:.0f} | "
            f"{loaded.get(main_pid, 0):.0f} → {peak[main_pid]:.0f} | {loaded.get(child, 0):.0f} → {peak[child]:.0f} | "
            f"{r['max_message_bytes']:,} B | {r['messages']:,} |")
    return "\n".join(lines)


def render(path: Path) -> dict[str, Any]:
    """Re-print the table of a saved --json report."""
    report: dict[str, Any] = json.loads(path.read_text())
    return _publish(report, markdown(report["rows"]), None)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the scale benchmark; prints a markdown table and returns the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200- and 1k-node DAGs only")
    parser.add_argument("--shapes", default=None, help=f"comma list of {','.join(SHAPES)}")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="broker + result backend URL")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="admin URL; a fresh database is made")
    parser.add_argument("--tick", type=float, default=0.0, help="dyrygent tick for the dyrygent shapes")
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument("--render", default=None, help="only re-print the table of a saved --json report")
    parser.add_argument("--scaling", action="store_true", help="throughput per worker-process count (see above)")
    parser.add_argument("--nodes", type=int, default=10_000, help="--scaling: nodes of the wide DAG")
    parser.add_argument("--workers", type=lambda v: [int(x) for x in v.split(",")], default=list(SCALING_WORKERS),
                        help="--scaling: comma list of worker-process counts (default 1,2,4)")
    parser.add_argument("--per-worker", type=int, default=1, help="--scaling: pool processes per worker")
    parser.add_argument("--reps", type=int, default=1, help="--scaling: timed runs per contender and count")
    args = parser.parse_args(argv)
    if args.render:
        return render(Path(args.render))
    if args.scaling:
        return scaling_main(args)
    names = args.shapes.split(",") if args.shapes else list(QUICK if args.quick else FULL)
    unknown = [n for n in names if n not in SHAPES]
    if unknown:
        parser.error(f"unknown shapes: {unknown}")
    report: dict[str, Any] = {"machine": machine_info(), "rows": []}
    with tempfile.TemporaryDirectory(prefix="pypeline-scale-") as tmp:
        for name in names:
            row = measure(SHAPES[name], Path(tmp), args.concurrency, args.tick, args.redis, args.postgres)
            print(f"  {name}: {row['status']} in {row['seconds']:.1f}s", file=sys.stderr)
            report["rows"].append(row)
    return _publish(report, markdown(report["rows"]), args.json_path)


def _publish(report: dict[str, Any], table: str, json_path: str | None) -> dict[str, Any]:
    """Print the markdown table, keep it in the report and write the report as JSON when asked; returns it."""
    report["table"] = table
    print(table)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--client":
        client_main(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]))
    else:
        main()

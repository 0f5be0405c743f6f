"""Raw Celery canvas vs the dyrygent engine vs the event-driven engine, on one Redis broker and one worker.

Every variant runs the same trivial task (`benchmarks.handlers.noop`) on the same `pypeline worker -c 2`
process (Redis broker and result backend, a fresh PostgreSQL run store, or with `--store sqlite` a SQLite
file). Latency is submit -> result: raw `apply_async()` then `.get()`; our engines `invoke()` then
`runtime.wait()`. The median of several repetitions is reported, with ratios against raw Celery.

    python benchmarks/bench_engines.py                 # full run (about 15 minutes, dyrygent dominates)
    python benchmarks/bench_engines.py --quick         # smoke run (< 1 minute)
    python benchmarks/bench_engines.py --workloads chain10,fan100 --variants raw,event --reps 9
    python benchmarks/bench_engines.py --render results.json   # re-print a saved --json report
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import chain, chord, group
from celery.canvas import Signature

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    DEFAULT_POSTGRES,
    DEFAULT_REDIS,
    HANDLER,
    Adjacency,
    chain_dag,
    cluster,
    fan_dag,
    layered_dag,
    machine_info,
    median,
    pipeline_entry,
    write_config,
)
from pypeline.errors import RunTimeoutError  # noqa: E402
from pypeline.runtime import Runtime  # noqa: E402
from pypeline.services.invoke import invoke  # noqa: E402

#: Queue prefix; each run adds a random suffix so benchmarks sharing the broker never take each other's tasks.
QUEUE = "bench"
#: dyrygent variants: name -> seconds between processor ticks (1 s is our default; 0 re-ticks at once).
DYRYGENT_TICKS = {"dyrygent@1s": 1.0, "dyrygent@0s": 0.0}
ALL_VARIANTS = ("raw", "event", *DYRYGENT_TICKS)
#: The longest any single dyrygent run may take before it is abandoned and reported as such.
DYRYGENT_LIMIT = 600.0


@dataclass(frozen=True)
class Workload:
    """One DAG shape, its raw-canvas equivalent, and the target for the event engine."""

    name: str
    adjacency: Callable[[], Adjacency]
    raw: Callable[[Callable[..., Signature]], Any]
    raw_label: str
    target: float  # max event/raw latency ratio, or min event/raw throughput ratio when throughput=True
    reps: int
    throughput: bool = False
    dyrygent_reps: int = 3


def _raw_chain(n: int) -> Callable[[Callable[..., Signature]], Any]:
    return lambda s: chain(*[s() for _ in range(n)])


def _raw_fan(width: int) -> Callable[[Callable[..., Signature]], Any]:
    return lambda s: chain(s(), chord([s(immutable=True) for _ in range(width)], s()))


def _raw_layered(levels: int, width: int) -> Callable[[Callable[..., Signature]], Any]:
    def build(s: Callable[..., Signature]) -> Any:
        # chord(level 1, body=chord(level 2, body=... group(last level))): explicit nested chords, the
        # fastest raw form measured (a chain of groups, which Celery upgrades to chords, is ~1.5x slower).
        canvas: Any = group([s(immutable=True) for _ in range(width)])
        for _ in range(levels - 1):
            canvas = chord([s(immutable=True) for _ in range(width)], canvas)
        return canvas
    return build


def _raw_group(n: int) -> Callable[[Callable[..., Signature]], Any]:
    return lambda s: group([s(immutable=True) for _ in range(n)])


WORKLOADS: dict[str, Workload] = {w.name: w for w in (
    Workload("chain10", lambda: chain_dag(10), _raw_chain(10), "chain", 1.5, reps=9),
    Workload("fan100", lambda: fan_dag(100), _raw_fan(100), "chord", 1.3, reps=7),
    Workload("fan1000", lambda: fan_dag(1000), _raw_fan(1000), "chord", 1.0, reps=5),
    Workload("layered5x4", lambda: layered_dag(5, 4), _raw_layered(5, 4), "nested chords", 1.0, reps=9),
    Workload("wide10k", lambda: fan_dag(9998), _raw_group(10000), "group", 0.8, reps=2, throughput=True,
             dyrygent_reps=1),
)}
QUICK = ("chain10", "fan100", "layered5x4")
#: A small DAG run untimed on every variant before measuring (always in the config).
WARMUP = Workload("warmup", lambda: fan_dag(4), _raw_fan(4), "chord", 0.0, reps=2)


@dataclass
class Result:
    """Timings of one (workload, variant) pair."""

    workload: str
    variant: str
    times: list[float] = field(default_factory=list)
    tasks: int = 0
    note: str = ""

    @property
    def median(self) -> float | None:
        """Median seconds, or None if nothing finished."""
        return median(self.times) if self.times else None


def _signature_factory(rt: Runtime) -> Callable[..., Signature]:
    queue = next(iter(rt.config.pipelines.values())).queue  # the same queue as the pipelines' nodes

    def make(immutable: bool = False) -> Signature:
        return rt.celery.signature(HANDLER, options={"queue": queue}, immutable=immutable)
    return make


def _time_raw(rt: Runtime, workload: Workload, timeout: float) -> float:
    canvas = workload.raw(_signature_factory(rt))
    start = time.perf_counter()
    result = canvas.apply_async()
    # A small interval: GroupResult.get() otherwise polls every 0.5 s, which would slow raw Celery down.
    result.get(timeout=timeout, interval=0.005, disable_sync_subtasks=False)
    elapsed = time.perf_counter() - start
    return elapsed


def _time_engine(rt: Runtime, pipeline_id: str, timeout: float) -> float:
    start = time.perf_counter()
    run_id = invoke(rt, pipeline_id)
    try:
        run = rt.wait(run_id, timeout, poll=0.01)
    except RunTimeoutError:
        rt.engine_for(rt.config.pipeline(pipeline_id)).cancel(run_id)  # stop it before the next measurement
        raise
    elapsed = time.perf_counter() - start
    if run["status"] != "SUCCESS":
        raise RuntimeError(f"run {run_id} of {pipeline_id} ended {run['status']}: {run.get('error')}")
    return elapsed


def _pipeline_id(workload: str, variant: str) -> str:
    return f"{workload}_{'dyrygent' if variant.startswith('dyrygent') else 'event'}"


def build_config(path: Path, workloads: list[Workload], variants: list[str], queue: str = QUEUE) -> Path:
    """One config with a pipeline per (workload, engine) that the variants need, all on `queue`."""
    engines = sorted({"dyrygent" if v.startswith("dyrygent") else "event" for v in variants if v != "raw"})
    pipelines = {}
    for w in [WARMUP, *workloads]:
        adjacency = w.adjacency()
        for engine in engines:
            pid = f"{w.name}_{engine}"
            pipelines[pid] = pipeline_entry(pid, adjacency, queue=queue, engine=engine,
                                            processor_queue=f"{queue}-orchestrator")
    return write_config(path, pipelines)


def run_once(rt: Runtime, workload: Workload, variant: str, res: Result, purge: Callable[[], None]) -> None:
    """Time one repetition of a workload on a variant into `res` (a dyrygent run over the limit is abandoned)."""
    if res.note:
        return  # abandoned earlier: do not wait another 10 minutes
    if variant == "raw":
        res.times.append(_time_raw(rt, workload, timeout=600))
        return
    if variant in DYRYGENT_TICKS:
        rt.engines["dyrygent"].tick = DYRYGENT_TICKS[variant]  # type: ignore[attr-defined]
    limit = DYRYGENT_LIMIT if variant.startswith("dyrygent") else 600.0
    try:
        res.times.append(_time_engine(rt, _pipeline_id(workload.name, variant), limit))
    except RunTimeoutError:
        res.note = f"did not finish within {limit:.0f} s"
        purge()


def run_workload(rt: Runtime, workload: Workload, variants: list[str], reps: dict[str, int],
                 purge: Callable[[], None]) -> dict[str, Result]:
    """Repetitions interleaved across variants (rep 1 of each, then rep 2, ...) so load drift hits all alike."""
    tasks = len(workload.adjacency())  # every raw comparator runs as many tasks as the DAG has nodes
    results = {v: Result(workload.name, v, tasks=tasks) for v in variants}
    for i in range(max(reps.values())):
        for v in variants:
            if i < reps[v]:
                run_once(rt, workload, v, results[v], purge)
    return results


def ratio_row(workload: Workload, results: dict[str, Result]) -> dict[str, Any]:
    """Per-variant median, throughput and ratio vs raw Celery for one workload."""
    raw = results.get("raw")
    row: dict[str, Any] = {"workload": workload.name, "raw": workload.raw_label, "target": workload.target,
                           "throughput": workload.throughput, "variants": {}}
    for variant, r in results.items():
        med = r.median
        entry: dict[str, Any] = {"median_s": med, "times": r.times, "tasks": r.tasks, "note": r.note}
        if med is not None:
            entry["tasks_per_s"] = r.tasks / med
        if raw is not None and raw.median and med is not None:
            # Latency rows: time / raw time (lower is better). Throughput rows: tasks/s / raw tasks/s (higher).
            entry["ratio"] = (r.tasks / med) / (raw.tasks / raw.median) if workload.throughput else med / raw.median
        row["variants"][variant] = entry
    event = row["variants"].get("event", {})
    if "ratio" in event:
        ratio = event["ratio"]
        row["met"] = ratio >= workload.target if workload.throughput else ratio <= workload.target
    return row


def render(path: Path) -> dict[str, Any]:
    """Recompute rows and table of a saved report from its raw times (e.g. after a change of presentation)."""
    report = json.loads(path.read_text())
    rows, variants = [], list(report["rows"][0]["variants"]) if report["rows"] else []
    for old in report["rows"]:
        results = {v: Result(old["workload"], v, times=e["times"], tasks=e["tasks"], note=e["note"])
                   for v, e in old["variants"].items()}
        rows.append(ratio_row(WORKLOADS[old["workload"]], results))
    report["rows"], report["table"] = rows, markdown(rows, variants)
    print(report["table"])
    return report


def markdown(rows: list[dict[str, Any]], variants: list[str]) -> str:
    """The results table: median seconds (tasks/s for throughput) and ratio vs raw Celery."""
    head = "| workload | raw canvas | " + " | ".join(variants) + " | target (event) | met |"
    lines = [head, "|" + "---|" * (len(variants) + 4)]
    for row in rows:
        cells = []
        for v in variants:
            e = row["variants"].get(v)
            if e is None:
                cells.append("–")
            elif e["median_s"] is None:
                cells.append(e["note"] or "–")
            else:
                text = f"{e['median_s']:.3f} s"
                if row["throughput"]:
                    text += f" ({e['tasks_per_s']:.0f} tasks/s)"
                if "ratio" in e and v != "raw":
                    text += f" ×{e['ratio']:.2f}"
                cells.append(text)
        target = f"≥ {row['target']}× raw throughput" if row["throughput"] else f"≤ {row['target']}× raw"
        met = {True: "yes", False: "**no**"}.get(row.get("met"), "–")
        lines.append(f"| {row['workload']} | {row['raw']} | " + " | ".join(cells) + f" | {target} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; prints a markdown table and returns (and optionally writes) the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small workloads, 1-2 reps, fastest dyrygent only")
    parser.add_argument("--workloads", default=None, help=f"comma list of {','.join(WORKLOADS)}")
    parser.add_argument("--variants", default=None, help=f"comma list of {','.join(ALL_VARIANTS)}")
    parser.add_argument("--reps", type=int, default=None, help="override repetitions of every workload")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="broker + result backend URL")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="admin URL; a fresh database is made")
    parser.add_argument("--store", choices=("postgresql", "sqlite"), default="postgresql",
                        help="run store of our engines: a fresh PostgreSQL database or a SQLite file (the default)")
    parser.add_argument("--json", dest="json_path", default=None, help="write results as JSON here")
    parser.add_argument("--render", default=None, help="only re-print the table of a saved --json report")
    args = parser.parse_args(argv)
    if args.render:
        return render(Path(args.render))

    names = args.workloads.split(",") if args.workloads else (list(QUICK) if args.quick else list(WORKLOADS))
    variants = args.variants.split(",") if args.variants else (
        ["raw", "event", "dyrygent@0s"] if args.quick else list(ALL_VARIANTS))
    unknown = [n for n in names if n not in WORKLOADS] + [v for v in variants if v not in ALL_VARIANTS]
    if unknown:
        parser.error(f"unknown workload/variant: {unknown}")
    workloads = [WORKLOADS[n] for n in names]

    report: dict[str, Any] = {"machine": machine_info(), "concurrency": args.concurrency, "store": args.store,
                              "rows": []}
    with tempfile.TemporaryDirectory(prefix="pypeline-bench-") as tmp:
        queue = f"{QUEUE}-{uuid.uuid4().hex[:8]}"
        config = build_config(Path(tmp) / "bench.yaml", workloads, variants, queue)
        with cluster(config, store=args.store, concurrency=args.concurrency, redis_url=args.redis,
                     postgres_admin_url=args.postgres) as c:
            rt = c.runtime
            assert rt is not None
            purge = lambda: c.purge([queue, f"{queue}-orchestrator"])  # noqa: E731
            _warm_up(rt, variants)
            for w in workloads:
                reps = {v: args.reps or (1 if args.quick else (w.dyrygent_reps if v.startswith("dyrygent") else w.reps))
                        for v in variants}
                results = run_workload(rt, w, variants, reps, purge)
                for v, r in results.items():
                    shown = f"{r.median:.3f}s" if r.median is not None else r.note
                    print(f"  {w.name:<11} {v:<12} median {shown} over {len(r.times)} run(s)", file=sys.stderr)
                report["rows"].append(ratio_row(w, results))
    table = markdown(report["rows"], variants)
    report["table"] = table
    print(table)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2, default=str))
    return report


def _warm_up(rt: Runtime, variants: list[str]) -> None:
    """Untimed runs of a small DAG per variant, so the worker pool's connections and imports are warm."""
    for variant in variants:
        for _ in range(2 if variant in ("raw", "event") else 1):  # reach both pool processes
            if variant == "raw":
                _time_raw(rt, WARMUP, timeout=120)
                continue
            if variant in DYRYGENT_TICKS:
                rt.engines["dyrygent"].tick = 0.0  # type: ignore[attr-defined]
            _time_engine(rt, _pipeline_id(WARMUP.name, variant), 120)


if __name__ == "__main__":
    main()

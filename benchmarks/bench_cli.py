"""Wall time of the commands users type, against `celery --help`, measured side by side in one run.

Every command runs as a fresh process (`python -m ...`, same interpreter) on the embedded default
(a temporary PYPELINE_HOME: filesystem broker, SQLite store), interleaved round by round so machine
load hits every contender alike; the table shows medians and the ratio to `celery --help`.

    python benchmarks/bench_cli.py                         # 7 rounds
    python benchmarks/bench_cli.py --repeat 3 --markdown benchmarks/results/cli.md
    python benchmarks/bench_cli.py --baseline /tmp/old     # also time an older checkout (its `pypeline/` dir)

`--baseline DIR` puts DIR first on PYTHONPATH for a second copy of every pypeline command, giving a
before/after column (make DIR with `git archive <commit> | tar -x -C DIR`).
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "sermos.yaml.example"
REFERENCE = "celery --help"
#: Environment variables that would point a command away from the embedded default, or (PYTHONDONTWRITEBYTECODE)
#: make every run recompile pypeline from source while celery's site-packages already hold bytecode: an
#: installed package is byte-compiled, so both sides start from cached bytecode, as a user's would.
_SERVICE_ENV = ("PYPELINE_BROKER_URL", "CELERY_BROKER_URL", "REDIS_URL", "PYPELINE_DATABASE_URL",
                "PYPELINE_RESULT_BACKEND", "CELERY_RESULT_BACKEND", "PYPELINE_CONFIG", "WORKER_NAME",
                "PYTHONDONTWRITEBYTECODE")
#: Acceptance targets (issue 12): command -> (most × celery --help, most seconds or None).
TARGETS: dict[str, tuple[float, float | None]] = {
    "pypeline --help": (0.5, None),
    "pypeline run sermos.yaml.example demo": (2.0, 1.5),
}


@dataclass
class Command:
    """One contender: a label, its argv after `python -m`, and the PYTHONPATH it runs with."""

    label: str
    argv: list[str]
    pythonpath: str
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Median wall seconds."""
        return statistics.median(self.times)


def commands(baseline: str | None) -> list[Command]:
    """The reference and every pypeline command (and their baseline copies)."""
    example = str(EXAMPLE)
    pypeline_cmds = [
        ("pypeline --help", ["pypeline", "--help"]),
        ("pypeline validate --no-handlers", ["pypeline", "validate", "--no-handlers", example]),
        ("pypeline validate", ["pypeline", "validate", example]),
        ("pypeline run sermos.yaml.example demo", ["pypeline", "run", example, "demo"]),
        ("pypeline runs list", ["pypeline", "runs", "list"]),
        ("pypeline schedules list", ["pypeline", "schedules", "list"]),
    ]
    out = [Command(REFERENCE, ["celery", "--help"], str(REPO))]
    for label, argv in pypeline_cmds:
        out.append(Command(label, argv, str(REPO)))
        if baseline:
            out.append(Command(f"{label} (baseline)", argv, baseline))
    return out


def run_once(cmd: Command, env: dict[str, str], cwd: str) -> float:
    """Run the command once; its wall time in seconds (a failing command aborts the benchmark)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *cmd.argv], env={**env, "PYTHONPATH": cmd.pythonpath}, cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{cmd.label} failed ({done.returncode}):\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
    return elapsed


def measure(repeat: int, baseline: str | None) -> tuple[list[Command], dict[str, Any]]:
    """Warm up once, then `repeat` interleaved rounds; returns the commands with their times and run facts."""
    cmds = commands(baseline)
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as home:
        env = {k: v for k, v in os.environ.items() if k not in _SERVICE_ENV}
        # The baseline gets its own home: a store migrated by newer code has revisions the old code cannot read.
        homes = {cmd.pythonpath: str(Path(home) / ("current" if cmd.pythonpath == str(REPO) else "baseline"))
                 for cmd in cmds}
        for path in homes.values():
            Path(path).mkdir()
        load_before = os.getloadavg()
        for cmd in cmds:  # warm-up: bytecode caches, the SQLite store's first migration, the page cache
            run_once(cmd, {**env, "PYPELINE_HOME": homes[cmd.pythonpath]}, homes[cmd.pythonpath])
        for _ in range(repeat):
            for cmd in cmds:
                cmd.times.append(run_once(cmd, {**env, "PYPELINE_HOME": homes[cmd.pythonpath]},
                                          homes[cmd.pythonpath]))
        facts = {"repeat": repeat, "load_before": load_before, "load_after": os.getloadavg()}
    return cmds, facts


def table(cmds: list[Command]) -> str:
    """Markdown table: median, best, ratio to celery --help, target and verdict."""
    ref = next(c for c in cmds if c.label == REFERENCE).median
    lines = ["| command | median | best | × `celery --help` | target | met |", "|---|---|---|---|---|---|"]
    for cmd in cmds:
        ratio = cmd.median / ref
        target, met = "", ""
        if cmd.label in TARGETS:
            most_ratio, most_s = TARGETS[cmd.label]
            target = f"≤ {most_ratio}×" + (f", ≤ {most_s} s" if most_s else "")
            ok = ratio <= most_ratio and (most_s is None or cmd.median <= most_s)
            met = "yes" if ok else "**no**"
        lines.append(f"| `{cmd.label}` | {cmd.median:.2f} s | {min(cmd.times):.2f} s | {ratio:.2f} | {target} "
                     f"| {met} |")
    return "\n".join(lines)


def machine() -> str:
    """One line about the machine."""
    import platform

    return f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {platform.platform()}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, optionally write Markdown/JSON; returns the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--baseline", help="an older checkout to time as well (a dir holding `pypeline/`)")
    parser.add_argument("--markdown", type=Path, help="also write the report to this Markdown file")
    parser.add_argument("--json", type=Path, help="also write the raw times as JSON")
    args = parser.parse_args(argv)
    if args.baseline and not (Path(args.baseline) / "pypeline" / "cli.py").is_file():
        parser.error(f"--baseline {args.baseline!r} holds no pypeline/cli.py")
    cmds, facts = measure(args.repeat, args.baseline)
    text = table(cmds)
    load = "load average {:.1f} → {:.1f}".format(facts["load_before"][0], facts["load_after"][0])
    header = (f"# CLI start-up — `bench_cli.py`\n\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · "
              f"{machine()} · {load} · {args.repeat} interleaved rounds, median\n")
    print(header)
    print(text)
    report = {"machine": machine(), **facts, "table": text,
              "commands": {c.label: {"times": c.times, "median_s": c.median} for c in cmds}}
    if args.markdown:
        cmd_line = "python benchmarks/bench_cli.py " + " ".join(argv if argv is not None else sys.argv[1:])
        args.markdown.write_text(f"{header}\nCommand: `{cmd_line.strip()}`\n\n{text}\n")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()

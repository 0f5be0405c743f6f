"""Smoke run of benchmarks/bench_generators.py on tiny sizes, so the script cannot rot unnoticed."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_generators.py"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_bench_generators_runs_on_tiny_sizes(tmp_path: Path) -> None:
    pytest.importorskip("psutil")
    out = tmp_path / "generators.md"
    args = ["--keys", "1200", "--small", "300", "--repeat", "1", "--s3-repeat", "1", "--skip-moto"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--markdown", str(out)], capture_output=True, text=True, timeout=110
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = out.read_text()
    for needle in ("## Machine", "`nproc`", "| local, 1000 files/dir | 1,200 | pypeline iter_keys |",
                   "| s3 client-side (replayed pages) | 300 | plain boto3 paginator |", "tracemalloc peak",
                   "| iter_keys / plain loop | 300 keys | 1,200 keys | target |"):
        assert needle in report, needle
    summary = next(line for line in report.splitlines() if line.startswith("| local, 1000 files/dir | ") and
                   line.count("x |") >= 2 and "target" not in line and ">= 0.8x" in line)
    assert summary.count("x | ") >= 2, summary  # the ratio at both sizes, side by side

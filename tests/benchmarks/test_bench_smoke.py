"""Smoke run of benchmarks/bench_engines.py --quick on tiny workloads (real worker, Redis, PostgreSQL)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import bench_engines

pytestmark = pytest.mark.e2e


def test_bench_engines_quick_runs_every_variant(tmp_path: Path, redis_url: str, postgres_server: str) -> None:
    out = tmp_path / "bench.json"
    report = bench_engines.main(["--quick", "--workloads", "chain10,layered5x4", "--redis", redis_url,
                                 "--postgres", postgres_server, "--json", str(out)])
    assert json.loads(out.read_text())["table"] == report["table"]
    assert [row["workload"] for row in report["rows"]] == ["chain10", "layered5x4"]
    for row in report["rows"]:
        assert set(row["variants"]) == {"raw", "event", "dyrygent@0s"}
        for name, variant in row["variants"].items():
            assert len(variant["times"]) == 1 and variant["median_s"] > 0, (row["workload"], name, variant)
            if name != "raw":
                assert variant["ratio"] == pytest.approx(variant["median_s"] / row["variants"]["raw"]["median_s"])
        assert isinstance(row["met"], bool)
    assert "| chain10 | chain |" in report["table"] and report["machine"]["nproc"]

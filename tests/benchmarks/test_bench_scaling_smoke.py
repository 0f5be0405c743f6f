"""Smoke run of `benchmarks/bench_scale.py --scaling` on a tiny wide DAG (real workers, Redis, PostgreSQL)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import bench_scale

pytestmark = pytest.mark.e2e


def test_scaling_row_times_raw_group_and_engine_per_worker_count(
    tmp_path: Path, redis_url: str, postgres_server: str
) -> None:
    out = tmp_path / "scaling.json"
    report = bench_scale.main(["--scaling", "--nodes", "12", "--workers", "1,2", "--redis", redis_url,
                               "--postgres", postgres_server, "--json", str(out)])
    assert json.loads(out.read_text())["table"] == report["table"]
    assert [row["workers"] for row in report["scaling"]] == [1, 2]
    for row in report["scaling"]:
        assert row["nodes"] == 12 and row["per_worker"] == 1
        assert len(row["times"]["raw"]) == len(row["times"]["event"]) == 1
        assert row["raw_per_s"] > 0 and row["event_per_s"] > 0
        assert row["ratio"] == pytest.approx(row["event_per_s"] / row["raw_per_s"])
    lines = report["table"].splitlines()
    assert lines[0].startswith("| worker processes | nodes | raw group | event engine | event / raw |")
    assert lines[2].startswith("| 1 × `-c 1` | 12 |") and lines[3].startswith("| 2 × `-c 1` | 12 |")

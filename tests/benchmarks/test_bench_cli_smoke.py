"""Smoke run of benchmarks/bench_cli.py (one round), so the script cannot rot unnoticed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import bench_cli

pytestmark = pytest.mark.slow


def test_bench_cli_times_every_command_against_celery_help(tmp_path: Path) -> None:
    out, md = tmp_path / "cli.json", tmp_path / "cli.md"
    report = bench_cli.main(["--repeat", "1", "--json", str(out), "--markdown", str(md)])
    assert json.loads(out.read_text())["table"] == report["table"]
    labels = set(report["commands"])
    assert {"celery --help", "pypeline --help", "pypeline run sermos.yaml.example demo", "pypeline runs list"} <= labels
    for label, numbers in report["commands"].items():
        assert len(numbers["times"]) == 1 and numbers["median_s"] > 0, label
    assert "| `pypeline --help` |" in md.read_text() and "× `celery --help`" in report["table"]

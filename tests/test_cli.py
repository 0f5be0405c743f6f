"""The click CLI: validate, graph, run (embedded, in-process), runs list/show."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pypeline.cli import cli
from tests.helpers import EXAMPLE


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_validate_ok() -> None:
    code, out, _ = _invoke("validate", str(EXAMPLE))
    assert code == 0 and "OK" in out and "pipeline(s)" in out


def test_validate_lists_every_error_with_lines(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "serviceConfig: []\n"
        "pipelines:\n"
        "  p:\n"
        "    name: p\n"
        "    schemaVersion: 1\n"
        "    config:\n"
        "      metadata: {queue: q, maxRetry: many}\n"
        "      dagAdjcency: {}\n"
        "      taskDefinitions:\n"
        "        a: {handler: no_such_module_xyz.fn}\n"
    )
    code, _, err = _invoke("validate", str(bad))
    assert code == 1
    assert "Traceback" not in err
    assert f"{bad}:7:" in err and "maxRetry" in err
    assert f"{bad}:8:" in err and "did you mean 'dagAdjacency'" in err
    assert f"{bad}:10:" in err and "no_such_module_xyz" in err


def test_validate_missing_file_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    code, _, err = _invoke("validate", str(tmp_path / "nope.yaml"))
    assert code == 1 and "Traceback" not in err


def test_graph_formats() -> None:
    code, out, _ = _invoke("graph", str(EXAMPLE), "demo", "--format", "mermaid")
    assert code == 0 and out.startswith("flowchart TD") and out.count("-->") == 4
    code, out, _ = _invoke("graph", str(EXAMPLE), "demo", "--format", "dot")
    assert code == 0 and '"enrich" -> "load";' in out
    code, _, err = _invoke("graph", str(EXAMPLE), "nope")
    assert code == 1 and "unknown pipeline 'nope'" in err


def test_run_embedded_then_runs_list_and_show(pypeline_home: Path) -> None:
    code, out, _ = _invoke("run", str(EXAMPLE), "diamond", "--json")
    assert code == 0, out
    record = json.loads(out)
    assert record["status"] == "SUCCESS"
    assert record["result"] == {"c": {"node": "c", "saw": ["a", "b"]}}
    assert [n["node"] for n in record["nodes"]] == ["a", "b", "c"]

    code, out, _ = _invoke("runs", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and listed["total"] == 1 and listed["items"][0]["id"] == record["id"]
    code, out, _ = _invoke("runs", "show", record["id"])
    assert code == 0 and json.loads(out)["nodes"][2]["status"] == "SUCCESS"
    code, _, err = _invoke("runs", "show", "nope")
    assert code == 1 and "unknown run" in err


def test_run_rejects_bad_payload_and_writes_nothing(pypeline_home: Path) -> None:
    code, _, err = _invoke("run", str(EXAMPLE), "demo", "--payload", '{"count": "many"}')
    assert code == 1 and "payloadSchema" in err
    code, _, err = _invoke("run", str(EXAMPLE), "demo", "--payload", "{not json")
    assert code == 1 and "not valid JSON" in err
    code, out, _ = _invoke("runs", "list", "--json")
    assert json.loads(out)["total"] == 0


def test_validate_reports_unsound_split_scopes(tmp_path: Path) -> None:
    bad = tmp_path / "mix.yaml"
    bad.write_text(
        "pipelines:\n  p:\n    name: p\n    schemaVersion: 1\n    config:\n      metadata: {queue: q}\n"
        "      dagAdjacency:\n        x: [c]\n        a: [b]\n        b: [c]\n      taskDefinitions:\n"
        "        a: {handler: pypeline_examples.demo.summarize, split: true}\n"
        "        b: {handler: pypeline_examples.demo.summarize}\n"
        "        c: {handler: pypeline_examples.demo.summarize}\n"
        "        x: {handler: pypeline_examples.demo.summarize}\n"
    )
    code, _, err = _invoke("validate", str(bad))
    assert code == 1 and "mixes inputs from different split scopes" in err

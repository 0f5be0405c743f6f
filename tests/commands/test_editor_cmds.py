"""`pypeline schema`, `validate --format`, `fmt` and the pre-commit hook definition."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from pypeline.cli import cli
from pypeline.config import load_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "sermos.yaml.example"
BAD = REPO / "tests" / "config" / "bad"
GOOD = REPO / "tests" / "config" / "good"


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_schema_output_is_the_committed_file(tmp_path: Path) -> None:
    code, out, _ = _invoke("schema")
    committed = (REPO / "schema" / "pypeline.schema.json").read_text(encoding="utf-8")
    assert code == 0 and out == committed
    target = tmp_path / "s.json"
    assert _invoke("schema", "--output", str(target))[0] == 0
    assert target.read_text(encoding="utf-8") == committed


def test_validate_json_lists_every_error_with_line_and_column() -> None:
    code, out, _ = _invoke("validate", "--format", "json", str(BAD / "multiple_errors.yaml"))
    assert code == 1
    records = json.loads(out)
    assert [(r["line"], r["code"]) for r in records] == [(20, "PYP106"), (22, "PYP202"), (24, "PYP101"),
                                                        (25, "PYP501"), (33, "PYP308")]
    assert all(isinstance(r["line"], int) and isinstance(r["column"], int) for r in records)
    typo = records[2]
    assert typo["key_path"] == "pipelines.demo.config.taskDefinitions.a.hander" and typo["suggestion"] == "handler"
    assert set(typo) == {"file", "line", "column", "key_path", "code", "name", "message", "suggestion"}


def test_validate_json_and_github_on_a_good_file() -> None:
    assert _invoke("validate", "--format", "json", str(EXAMPLE)) [:2] == (0, "[]\n")
    code, out, _ = _invoke("validate", "--format", "github", str(EXAMPLE))
    assert code == 0 and "::error" not in out


def test_validate_github_annotations() -> None:
    path = BAD / "unknown_metadata_key.yaml"
    code, out, _ = _invoke("validate", "--format", "github", "--no-handlers", str(path))
    assert code == 1
    (line,) = out.splitlines()
    assert line.startswith(f"::error file={path},line=") and ",title=PYP101 unknown-key::" in line


def test_validate_text_is_unchanged() -> None:
    code, out, err = _invoke("validate", str(BAD / "multiple_errors.yaml"))
    assert code == 1 and out == "" and err.startswith("5 config error(s):")
    assert "PYP" not in err


def test_fmt_check_and_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "pypeline.yaml"
    original = (GOOD / "user_shapes.yaml").read_text(encoding="utf-8")
    path.write_text(original, encoding="utf-8")
    code, out, _ = _invoke("fmt", "--check", str(path))
    assert code == 1 and "+        maxRetry: 1" in out and path.read_text(encoding="utf-8") == original
    assert _invoke("fmt", str(path))[0] == 0
    assert _invoke("fmt", "--check", str(path))[:2] == (0, "")
    assert path.read_text(encoding="utf-8").startswith("# Shapes seen in configs")  # comments kept


def test_fmt_refuses_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("a: [1, 2\n", encoding="utf-8")
    code, _, err = _invoke("fmt", str(path))
    assert code == 1 and "invalid YAML" in err


def _hook() -> dict[str, object]:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    return hook


def test_pre_commit_hook_definition() -> None:
    hook = _hook()
    assert hook["id"] == "pypeline-validate" and hook["language"] == "python"
    assert hook["entry"] == "pypeline validate --no-handlers"
    pattern = re.compile(str(hook["files"]))
    assert pattern.search("sermos.yaml") and pattern.search("deploy/pypeline.yaml")
    assert not pattern.search("other.yaml") and not pattern.search("sermos.yaml.example")


def test_pre_commit_hook_installs_what_the_command_line_imports() -> None:
    import ast

    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    (extras,) = [node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "EXTRAS" for t in node.targets)]
    assert _hook()["additional_dependencies"] == ast.literal_eval(extras)["workers"]


def test_pre_commit_hook_entry_runs_on_good_and_bad_files(tmp_path: Path) -> None:
    argv = shlex.split(str(_hook()["entry"]))
    assert argv[0] == "pypeline"
    command = [sys.executable, "-m", "pypeline", *argv[1:]]
    bad = tmp_path / "sermos.yaml"
    bad.write_text((BAD / "unknown_top_key.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    # --no-handlers: a handler that cannot be imported is not the hook's business
    good = tmp_path / "pypeline.yaml"
    good.write_text("pipelines:\n  p:\n    name: p\n    config:\n"
                    "      taskDefinitions: {a: {handler: not_here.m.fn}}\n", encoding="utf-8")
    ok = subprocess.run([*command, str(good)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    # pre-commit passes every matching file of a commit to one call
    failed = subprocess.run([*command, str(good), str(bad)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert failed.returncode == 1 and "unknown key" in failed.stderr and f"OK {good}" in failed.stdout


def test_fmt_output_of_example_and_corpus_is_equal_and_valid(tmp_path: Path) -> None:
    from pypeline.config.fmt import format_text

    for source in [EXAMPLE, *sorted(GOOD.glob("*.yaml"))]:
        text = source.read_text(encoding="utf-8")
        once = format_text(text, str(source))
        assert format_text(once, str(source)) == once, f"fmt is not idempotent on {source.name}"
        assert yaml.safe_load(once) == yaml.safe_load(text)
        target = tmp_path / source.name
        target.write_text(once, encoding="utf-8")
        assert load_config(target, check_handlers=False).raw == load_config(source, check_handlers=False).raw


def test_fmt_on_the_bad_corpus_keeps_the_data_or_refuses() -> None:
    from pypeline.config.fmt import format_text
    from pypeline.errors import ConfigError

    refused = set()
    for source in sorted(BAD.glob("*.yaml")):
        text = source.read_text(encoding="utf-8")
        try:
            once = format_text(text, str(source))
        except ConfigError:
            refused.add(source.stem)
            continue
        assert format_text(once, str(source)) == once, source.name
        assert yaml.safe_load(once) == yaml.safe_load(text), source.name
    # not YAML, duplicate keys, or a tag safe YAML cannot build: fmt will not guess
    assert refused == {"yaml_syntax_error", "duplicate_node_name", "duplicate_pipeline_id", "yaml_unsafe_tag"}

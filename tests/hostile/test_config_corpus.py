"""A corpus of malicious config files: each one is a clean, located ConfigError in under 2 s, never a crash."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pypeline.config import load_config, load_config_text
from pypeline.errors import ConfigError
from pypeline.settings import get_settings

pytestmark = pytest.mark.hostile

CORPUS = Path(__file__).parent / "yaml"
GOOD = Path(__file__).resolve().parents[1] / "config" / "good"
EXAMPLE = Path(__file__).resolve().parents[2] / "sermos.yaml.example"

#: (line, column) the first issue must point at, for files where the place is unambiguous.
LOCATED = {
    "alias_bomb_340.yaml": (5, 1),  # the key whose value passes the expansion budget
    "alias_bomb_in_pipeline.yaml": (14, 9),
    "merge_alias_bomb.yaml": (5, 1),
    "control_nul.yaml": (3, 13),
    "control_bell.yaml": (2, 12),
    "control_escape_sequence.yaml": (3, 18),
    "deep_flow_nesting.yaml": (1, None),
    "python_object_apply.yaml": (1, None),
    "python_name_tag.yaml": (4, None),
}


def _refused(load: object, *args: object, **kwargs: object) -> tuple[ConfigError, float]:
    start = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load(*args, **kwargs)  # type: ignore[operator]
    return caught.value, time.perf_counter() - start


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.yaml")))
def test_corpus_file_is_a_fast_config_error(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    error, took = _refused(load_config, CORPUS / name)
    assert took < 2.0, f"{name}: {took:.2f} s"
    assert error.issues and all(i.file == str(CORPUS / name) for i in error.issues)
    line, column = LOCATED.get(name, (None, None))
    first = error.issues[0]
    if name in LOCATED:
        assert first.line is not None, str(error)
    if line is not None:
        assert first.line == line, str(error)
    if column is not None:
        assert first.column == column, str(error)
    assert not (tmp_path / "HOSTILE_MARKER").exists()  # python tags never execute anything


def test_bomb_names_the_alias_expansion() -> None:
    error, took = _refused(load_config, CORPUS / "alias_bomb_340.yaml")
    assert "alias" in str(error) and took < 1.0


def test_files_over_the_size_cap_are_refused_before_parsing(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    huge = tmp_path / "huge.yaml"
    block = "pipelines:\n" + "".join(f"  p{i}: {{name: p{i}}}\n" for i in range(10_000))
    with huge.open("w") as handle:
        while handle.tell() < 11_000_000:
            handle.write(block)
    error, took = _refused(load_config, huge)
    assert took < 2.0 and "PYPELINE_MAX_CONFIG_BYTES" in str(error) and "10,000,000" in str(error)
    error, _ = _refused(load_config_text, huge.read_text(), "huge.yaml")
    assert "PYPELINE_MAX_CONFIG_BYTES" in str(error)

    monkeypatch.setenv("PYPELINE_MAX_CONFIG_BYTES", str(EXAMPLE.stat().st_size - 1))
    get_settings(refresh=True)
    try:
        error, _ = _refused(load_config, EXAMPLE, check_handlers=False)
        assert "over the" in str(error)
    finally:
        monkeypatch.delenv("PYPELINE_MAX_CONFIG_BYTES")
        get_settings(refresh=True)
    assert load_config(EXAMPLE, check_handlers=False).pipelines  # default cap: the example loads


def test_legitimate_anchors_and_merge_keys_still_load() -> None:
    """The original's users write `<<: *defaults`: anchors, aliases and merge keys keep working."""
    doc = """
serviceConfig:
  - name: w
    registeredTasks:
      - handler: pypeline_examples.demo.fetch
pipelines:
  p:
    name: p
    schemaVersion: 1
    config:
      dagAdjacency: {a: [b], b: [c]}
      metadata: &meta {maxTtl: 60, maxRetry: 2, queue: q}
      taskDefinitions:
        a: &task {<<: *meta, handler: pypeline_examples.demo.fetch}
        b: {<<: *task, maxRetry: 5}
        c: {<<: [*task, *meta], maxTtl: 30}
"""
    config = load_config_text(doc, "anchors.yaml", check_handlers=False)
    nodes = config.pipelines["p"].nodes
    assert nodes["b"].retry.max_retry == 5 and nodes["c"].max_ttl == 30 and nodes["a"].max_ttl == 60


@pytest.mark.parametrize("path", [EXAMPLE, *sorted(GOOD.glob("*.yaml"))], ids=lambda p: p.name)
def test_good_files_still_load(path: Path) -> None:
    assert load_config(path, check_handlers=False) is not None


def _pypeline(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "PYPELINE_HOME": str(cwd / "home"), "PYPELINE_DATABASE_URL": f"sqlite:///{cwd / 'store.sqlite'}"}
    proc = subprocess.run([sys.executable, "-m", "pypeline", *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd, env=env)
    return proc, time.perf_counter() - start


@pytest.mark.parametrize("command", [["validate"], ["worker"], ["api", "--port", "1"], ["beat"], ["run"],
                                     ["batch", "list", "--config"]], ids=lambda c: c[0])
def test_every_entry_point_refuses_the_bomb_quickly(command: list[str], tmp_path: Path) -> None:
    """The issue's row: `pypeline validate` on a 340-byte bomb took 36 s and 1.35 GB; worker, API and beat too."""
    args = [*command, str(CORPUS / "alias_bomb_340.yaml")]
    if command == ["run"]:
        args.append("demo")
    proc, took = _pypeline(args, tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "alias_bomb_340.yaml:5:1" in out and "alias" in out and "Traceback" not in out
    assert took < 20.0  # interpreter start-up on a busy machine included; the refusal itself takes < 1 s


def test_control_bytes_are_a_located_error_not_a_traceback(tmp_path: Path) -> None:
    proc, _ = _pypeline(["validate", str(CORPUS / "control_nul.yaml")], tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "control_nul.yaml:3:13" in out and "0x00" in out
    assert "Traceback" not in out

"""Whatever a value is replaced with, validation reports issues instead of raising; odd texts give ConfigError."""
from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pypeline.config import load_config_text
from pypeline.config.validate import validate_config
from pypeline.config.yaml_source import SourceMap
from pypeline.errors import ConfigError

GOOD = Path(__file__).parent / "good"
ODD_VALUES: list[Any] = [None, 0, -1, 10**30, 1.5, True, "", " ", "x", "a.b", "a b", [], [1], ["a", "a"], {},
                         {"a": 1}, {1: 2}]

Path_ = tuple[Any, ...]


def walk(value: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every key/index path inside a plain YAML tree."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from walk(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from walk(item, (*prefix, index))


def replaced(tree: Any, path: Path_, new: Any, *, delete: bool = False) -> Any:
    """A copy of `tree` with the value at `path` replaced (or deleted)."""
    result = copy.deepcopy(tree)
    parent = result
    for part in path[:-1]:
        parent = parent[part]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return result


def assert_validates_or_reports(tree: Any) -> None:
    """Validating the tree must give a config or issues, and never raise."""
    config, issues = validate_config(tree, SourceMap("fuzz.yaml"))
    assert config is not None or issues
    assert all(i.file == "fuzz.yaml" for i in issues)


@pytest.mark.parametrize("name", ["sermos_spec_example.yaml", "user_shapes.yaml"])
def test_every_value_replaced(name: str) -> None:
    tree = yaml.safe_load((GOOD / name).read_text(encoding="utf-8"))
    for path in walk(tree):
        assert_validates_or_reports(replaced(tree, path, None, delete=True))
        for new in ODD_VALUES:
            assert_validates_or_reports(replaced(tree, path, new))


def renamed(tree: Any, path: Path_, new_key: Any) -> Any:
    """A copy of `tree` with the mapping key at the end of `path` renamed."""
    result = copy.deepcopy(tree)
    parent = result
    for part in path[:-1]:
        parent = parent[part]
    parent[new_key] = parent.pop(path[-1])
    return result


@pytest.mark.parametrize("name", ["sermos_spec_example.yaml", "user_shapes.yaml"])
def test_every_key_renamed(name: str) -> None:
    tree = yaml.safe_load((GOOD / name).read_text(encoding="utf-8"))
    for path in walk(tree):
        if isinstance(path[-1], str):
            for new_key in (1, None, True, "x", "load", "fetch"):
                assert_validates_or_reports(renamed(tree, path, new_key))


@pytest.mark.parametrize("text", ["", "[]", "3", "'x'", "~", "a", "pipelines: 3", "serviceConfig: [3]",
                                  "pipelines: {p: 3}", "scheduledTasks: {s: []}", "batches: {b: {generator: 1}}",
                                  "\t- x", "a: b: c", "%YAML 9.9\n---\na: 1", "{1: 2}", "? [a]\n: b",
                                  "pipelines: {p: {name: ${PYPELINE_TEST_UNSET}}}"])
def test_odd_documents(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYPELINE_TEST_UNSET", raising=False)
    with pytest.raises(ConfigError):
        load_config_text(text)


def test_check_config_text_reports_a_non_text_value_instead_of_raising() -> None:
    from pypeline.config.loader import check_config_text

    for value, kind in ((None, "NoneType"), (42, "int"), ({"pypelineVersion": 1}, "dict")):
        checked = check_config_text(value)
        assert checked.config is None
        assert any(f"config text must be a string, got {kind}" in issue.message for issue in checked.issues)
    assert check_config_text(b"\xff\xfe").config is None  # bytes that are not UTF-8: an issue, not an exception

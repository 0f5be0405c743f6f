"""Stable error codes: attached to every issue, documented in docs/config-errors.md, and shown by the reporters."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pypeline.config import codes
from pypeline.config.report import github_annotation, issue_record
from pypeline.errors import ConfigIssue
from pypeline.services.config_check import check_file, check_text

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "config-errors.md"
BAD = sorted((Path(__file__).parent / "bad").glob("*.yaml"))
CODE_ATTR = re.compile(r"\bcodes\.([A-Z][A-Z0-9_]+)\b")


def _defined() -> dict[str, codes.ErrorCode]:
    return {name: value for name, value in vars(codes).items() if isinstance(value, codes.ErrorCode)}


def test_every_code_is_documented_and_every_documented_code_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\| `(PYP\d{3})` \| `([a-z-]+)` \|", text, re.MULTILINE))
    assert documented == {c.id: c.name for c in codes.ALL.values()}
    assert set(re.findall(r"PYP\d{3}", text)) <= set(codes.ALL)


def test_every_code_is_used_and_every_used_code_exists() -> None:
    used: set[str] = set()
    for path in (REPO / "pypeline").rglob("*.py"):
        if path.name != "codes.py":
            used |= set(CODE_ATTR.findall(path.read_text(encoding="utf-8")))
    defined = _defined()
    assert used <= set(defined), used - set(defined)
    assert set(defined) <= used, f"codes nobody raises: {set(defined) - used}"
    assert len({c.id for c in defined.values()}) == len(defined) == len(codes.ALL)


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_every_bad_corpus_issue_has_a_specific_code(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYPELINE_TEST_SURELY_UNSET_VAR", raising=False)
    issues = check_file(path).issues
    assert issues and all(i.code in codes.ALL and i.code != codes.GENERIC.id for i in issues), issues


def test_codes_and_suggestions_at_the_source() -> None:
    text = ("pipelines:\n  p:\n    name: p\n    config:\n      metadata: {engine: evnt, maxTtl: 0}\n"
            "      dagAdjacency: {a: [bb]}\n      taskDefinitions:\n        a: {handler: x.y, quue: q}\n"
            "        b: {handler: x.y}\n")
    found = {(i.code, i.suggestion, i.line) for i in check_text(text).issues}
    assert found == {("PYP105", "event", 5), ("PYP106", None, 5), ("PYP202", "b", 6), ("PYP101", "queue", 8)}


def test_dataflow_issues_are_located_at_their_dag() -> None:
    text = ("pipelines:\n  p:\n    name: p\n    config:\n      dagAdjacency:\n        s: [b]\n        b: [c]\n"
            "        x: [c]\n      taskDefinitions:\n        s: {handler: m.s, split: true}\n"
            "        b: {handler: m.b}\n        c: {handler: m.c}\n        x: {handler: m.x}\n")
    (issue,) = check_text(text).issues
    assert (issue.code, issue.line, issue.column) == ("PYP210", 5, 7)
    assert "mixes inputs from different split scopes" in issue.message


def test_issue_record_and_github_annotation() -> None:
    issue = ConfigIssue("bad: 100%\nnext", "a.b", "dir/x,y.yaml", 3, 7, codes.UNKNOWN_KEY.id, "name")
    assert issue_record(issue) == {"file": "dir/x,y.yaml", "line": 3, "column": 7, "key_path": "a.b",
                                   "code": "PYP101", "name": "unknown-key", "message": "bad: 100%\nnext",
                                   "suggestion": "name"}
    assert github_annotation(issue) == ("::error file=dir/x%2Cy.yaml,line=3,col=7,title=PYP101 unknown-key::"
                                        "[a.b] bad: 100%25%0Anext")
    bare = ConfigIssue("config file not found", file="gone.yaml", code=codes.FILE_UNREADABLE.id)
    assert github_annotation(bare) == "::error file=gone.yaml,title=PYP001 file-unreadable::config file not found"

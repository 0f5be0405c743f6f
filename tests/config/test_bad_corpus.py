"""Every file in tests/config/bad/ must fail with the issues its `# expect: line N: fragment` headers list."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from pypeline.config import load_config
from pypeline.errors import ConfigError

BAD_DIR = Path(__file__).parent / "bad"
EXPECT = re.compile(r"^# expect: line (\d+): (.+)$")
MIN_ISSUES = re.compile(r"^# min-issues: (\d+)$")


@dataclass(frozen=True)
class Expectation:
    """What one bad file must produce."""

    lines: tuple[tuple[int, str], ...]
    min_issues: int | None


def read_expectation(path: Path) -> Expectation:
    """Parse the header comments of a corpus file."""
    lines: list[tuple[int, str]] = []
    min_issues: int | None = None
    for text in path.read_text(encoding="utf-8").splitlines():
        if not text.startswith("#"):
            break
        if match := EXPECT.match(text):
            lines.append((int(match.group(1)), match.group(2)))
        elif match := MIN_ISSUES.match(text):
            min_issues = int(match.group(1))
    return Expectation(tuple(lines), min_issues)


CORPUS = sorted(BAD_DIR.glob("*.yaml"))


def test_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_file(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYPELINE_TEST_SURELY_UNSET_VAR", raising=False)
    expected = read_expectation(path)
    assert expected.lines, f"{path.name} has no '# expect:' header"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    issues = info.value.issues
    shown = "\n".join(str(i) for i in issues)
    for line, fragment in expected.lines:
        assert any(i.line == line and fragment in i.message for i in issues), (
            f"expected line {line}: {fragment!r}; got:\n{shown}"
        )
    if expected.min_issues is not None:
        assert len(issues) >= expected.min_issues, shown
    else:
        assert len(issues) == len(expected.lines), f"unexpected extra issues:\n{shown}"
    for issue in issues:
        assert issue.file == str(path)
        assert issue.line is not None and issue.column is not None, shown

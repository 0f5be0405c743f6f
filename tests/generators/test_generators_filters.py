"""KeyFilter and parse_datetime: glob/regex semantics, bounds, validation."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from pypeline.errors import InvalidInputError
from pypeline.generators import HIDDEN_NAMES, KeyFilter, KeyInfo, is_hidden, parse_datetime

UTC = timezone.utc

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def info(key: str, size: int = 0, modified: datetime = T0) -> KeyInfo:
    """A KeyInfo with defaults."""
    return KeyInfo(key, size, modified)


def test_empty_filter_keeps_everything() -> None:
    f = KeyFilter.build()
    assert not f.checks_key and not f.checks_meta
    assert f.matches(info("anything/at/all"))


def test_globs_match_the_whole_key_and_star_crosses_slashes() -> None:
    f = KeyFilter.build(include="*.csv")
    assert f.matches(info("a.csv")) and f.matches(info("deep/er/a.csv"))
    assert not f.matches(info("a.csv.gz"))
    f = KeyFilter.build(include=["in/*", "*.json"], exclude=["*/tmp/*", "*.bak*"])
    assert f.matches(info("in/a.txt")) and f.matches(info("x.json"))
    assert not f.matches(info("in/tmp/a.txt")) and not f.matches(info("in/a.bak1")) and not f.matches(info("x.txt"))
    assert KeyFilter.build(include="data/[0-9]?.txt").matches(info("data/1a.txt"))
    assert not KeyFilter.build(include="*.CSV").matches(info("a.csv"))  # case-sensitive everywhere


def test_regex_is_a_search_not_a_full_match() -> None:
    f = KeyFilter.build(regex=r"\d{4}-\d{2}")
    assert f.matches(info("logs/2024-01/x")) and not f.matches(info("logs/x"))
    assert not KeyFilter.build(regex="^logs").matches(info("old/logs/x"))


def test_size_bounds_are_inclusive() -> None:
    f = KeyFilter.build(min_size=10, max_size=20)
    assert [f.matches(info("k", s)) for s in (9, 10, 20, 21)] == [False, True, True, False]


def test_modified_since_is_inclusive_and_timezone_normalised() -> None:
    f = KeyFilter.build(modified_since="2024-01-01T01:00:00+01:00")  # == T0
    assert f.modified_since == T0
    assert f.matches(info("k", modified=T0))
    assert not f.matches(info("k", modified=T0 - timedelta(seconds=1)))
    assert KeyFilter(modified_since=datetime(2024, 1, 1)).modified_since == T0  # naive means UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01T00:00:00Z", T0),
        ("2024-01-01", T0),
        ("2024-01-01T02:00:00+02:00", T0),
        (date(2024, 1, 1), T0),
        (datetime(2024, 1, 1, 5, tzinfo=timezone(timedelta(hours=5))), T0),
    ],
)
def test_parse_datetime(value: object, expected: datetime) -> None:
    parsed = parse_datetime(value)  # type: ignore[arg-type]
    assert parsed == expected and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "kwargs",
    [
        {"include": 5},
        {"include": ["ok", 5]},
        {"exclude": {"a": 1}},
        {"regex": "(unclosed"},
        {"regex": 3},
        {"min_size": -1},
        {"max_size": 1.5},
        {"min_size": True},
        {"min_size": 3, "max_size": 2},
        {"modified_since": "yesterday"},
        {"modified_since": 12},
    ],
)
def test_invalid_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        KeyFilter.build(**kwargs)  # type: ignore[arg-type]


def test_hidden_names_match_whole_components_only() -> None:
    assert set(HIDDEN_NAMES) >= {".DS_Store", ".git", "Icon", ".Dropbox"}
    for key in (".DS_Store", "a/.DS_Store", ".git/config", "x/.git/HEAD", "Icon", "p/Icon\r", ".Dropbox/x"):
        assert is_hidden(key), key
    for key in (".gitignore", "my.git/x", "Icons/a", "a.DS_Store", "x/Icon.png"):
        assert not is_hidden(key), key

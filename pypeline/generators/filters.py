"""Key filters shared by every generator: include/exclude globs, include regex, size bounds, modified-since."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from fnmatch import translate

from pypeline.errors import InvalidInputError
from pypeline.generators.base import KeyInfo, check_count

__all__ = ["KeyFilter", "parse_datetime"]

_UTC = timezone.utc


def parse_datetime(value: str | datetime | date, name: str = "modified_since") -> datetime:
    """A _UTC-aware datetime from an ISO-8601 string, a datetime or a date; naive values are taken as _UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInputError(f"{name} must be an ISO-8601 date/time, got {value!r}") from None
    else:
        raise InvalidInputError(f"{name} must be an ISO-8601 string or a datetime, got {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=_UTC)
    return parsed.astimezone(_UTC)


def _globs(name: str, value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidInputError(f"{name} must be a glob or a list of globs, got {value!r}")


def _compile_globs(globs: tuple[str, ...]) -> re.Pattern[str] | None:
    if not globs:
        return None
    return re.compile("|".join(f"(?:{translate(g)})" for g in globs))


@dataclass(frozen=True)
class KeyFilter:
    """Which keys to keep; globs use fnmatch on the whole key, where `*` also matches '/'."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    regex: str | None = None
    min_size: int | None = None
    max_size: int | None = None
    modified_since: datetime | None = None
    _include_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    _exclude_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    _regex_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        check_count("min_size", self.min_size)
        check_count("max_size", self.max_size)
        if self.min_size is not None and self.max_size is not None and self.min_size > self.max_size:
            raise InvalidInputError(f"min_size ({self.min_size}) is larger than max_size ({self.max_size})")
        if self.modified_since is not None:
            if not isinstance(self.modified_since, datetime):
                raise InvalidInputError(f"modified_since must be a datetime, got {self.modified_since!r}")
            object.__setattr__(self, "modified_since", parse_datetime(self.modified_since))
        regex_re = None
        if self.regex is not None:
            if not isinstance(self.regex, str):
                raise InvalidInputError(f"regex must be a string, got {self.regex!r}")
            try:
                regex_re = re.compile(self.regex)
            except re.error as exc:
                raise InvalidInputError(f"regex {self.regex!r} is invalid: {exc}") from None
        object.__setattr__(self, "_include_re", _compile_globs(self.include))
        object.__setattr__(self, "_exclude_re", _compile_globs(self.exclude))
        object.__setattr__(self, "_regex_re", regex_re)

    @classmethod
    def build(
        cls,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        regex: str | None = None,
        min_size: int | None = None,
        max_size: int | None = None,
        modified_since: str | datetime | date | None = None,
    ) -> KeyFilter:
        """A validated filter from user-facing arguments (a glob or list of globs, ISO or datetime since)."""
        since = None if modified_since is None else parse_datetime(modified_since)
        return cls(_globs("include", include), _globs("exclude", exclude), regex, min_size, max_size, since)

    @property
    def checks_key(self) -> bool:
        """True when the key alone can reject an item (include, exclude or regex set)."""
        return self._include_re is not None or self._exclude_re is not None or self._regex_re is not None

    @property
    def checks_meta(self) -> bool:
        """True when size or modified time can reject an item."""
        return self.min_size is not None or self.max_size is not None or self.modified_since is not None

    def match_key(self, key: str) -> bool:
        """True when `key` passes include, exclude and regex."""
        if self._include_re is not None and self._include_re.fullmatch(key) is None:
            return False
        if self._exclude_re is not None and self._exclude_re.fullmatch(key) is not None:
            return False
        return self._regex_re is None or self._regex_re.search(key) is not None

    def match_meta(self, size: int, modified: datetime) -> bool:
        """True when size is within [min_size, max_size] and modified >= modified_since."""
        if self.min_size is not None and size < self.min_size:
            return False
        if self.max_size is not None and size > self.max_size:
            return False
        return self.modified_since is None or modified >= self.modified_since

    def matches(self, info: KeyInfo) -> bool:
        """True when `info` passes every check."""
        return self.match_key(info.key) and self.match_meta(info.size, info.modified)

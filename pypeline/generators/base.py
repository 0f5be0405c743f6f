"""What every key generator shares: `KeyInfo`, the hidden-name rule and the original offset/limit semantics."""
from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import FrozenInstanceError
from datetime import datetime, timezone
from typing import Any

from pypeline.errors import AccessDeniedError, InvalidInputError, SourceError

__all__ = [
    "HIDDEN_NAMES",
    "KeyInfo",
    "KeyGenerator",
    "AccessDeniedError",
    "SourceError",
    "is_hidden",
    "check_count",
]

#: Names the original skipped (`skip_common_hidden`), plus the real macOS custom-icon file name `Icon\r`.
HIDDEN_NAMES: tuple[str, ...] = (".DS_Store", ".git", "Icon", "Icon\r", ".Dropbox")

# A key is hidden when any of its '/'-separated components is a hidden name (".git/config", "a/.DS_Store").
_HIDDEN_RE = re.compile("(?:^|/)(?:" + "|".join(re.escape(n) for n in HIDDEN_NAMES) + ")(?:/|$)")


class KeyInfo:
    """One listed key: its name, size in bytes and last-modified time (UTC-aware); immutable.

    A local listing hands over the file's `os.stat_result` instead (`_new_key_info`): `size` and `modified`
    are read from it on first use, so a consumer that only wants keys (a batch) pays for neither, and the
    listing's hot loop stores one object instead of building an int and a datetime per key.
    """

    __slots__ = ("key", "_size", "_modified", "_stat")
    __match_args__ = ("key", "size", "modified")

    key: str
    _size: int
    _modified: datetime
    _stat: os.stat_result

    def __init__(self, key: str, size: int, modified: datetime) -> None:
        """A key with its size and modification time."""
        _set_key(self, key)
        _set_size(self, size)
        _set_modified(self, modified)

    @property
    def size(self) -> int:
        """Size in bytes."""
        try:
            return self._size
        except AttributeError:
            value = self._stat.st_size
            _set_size(self, value)
            return value

    @property
    def modified(self) -> datetime:
        """Last-modified time, UTC-aware."""
        try:
            return self._modified
        except AttributeError:
            value = datetime.fromtimestamp(self._stat.st_mtime, timezone.utc)
            _set_modified(self, value)
            return value

    def __setattr__(self, name: str, value: object) -> None:
        """Refuse: a KeyInfo is immutable."""
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        """Refuse: a KeyInfo is immutable."""
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _astuple(self) -> tuple[str, int, datetime]:
        return self.key, self.size, self.modified

    def __eq__(self, other: object) -> bool:
        """Equal when key, size and modified are."""
        if not isinstance(other, KeyInfo):
            return NotImplemented
        return self._astuple() == other._astuple()

    def __hash__(self) -> int:
        """Hash of (key, size, modified)."""
        return hash(self._astuple())

    def __repr__(self) -> str:
        """KeyInfo(key=..., size=..., modified=...)."""
        return f"KeyInfo(key={self.key!r}, size={self.size!r}, modified={self.modified!r})"

    def __reduce__(self) -> tuple[type[KeyInfo], tuple[str, int, datetime]]:
        """Pickle as a plain constructor call."""
        return KeyInfo, self._astuple()


_SLOTS = KeyInfo.__dict__
_set_key, _set_size = _SLOTS["key"].__set__, _SLOTS["_size"].__set__
_set_modified, _set_stat = _SLOTS["_modified"].__set__, _SLOTS["_stat"].__set__
_Setter = Callable[[KeyInfo, Any], None]


def _new_key_info() -> tuple[Callable[[type[KeyInfo]], KeyInfo], _Setter, _Setter]:
    """(object.__new__, slot setters for the key and for an `os.stat_result`): a fast path for listing loops.

    A KeyInfo filled this way reads `size` and `modified` from the stat result when first asked.
    """
    return object.__new__, _set_key, _set_stat


def is_hidden(key: str) -> bool:
    """True when a component of `key` is one of HIDDEN_NAMES."""
    return _HIDDEN_RE.search(key) is not None


def check_count(name: str, value: int | None) -> None:
    """Raise InvalidInputError unless `value` is None or a non-negative int."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name} must be a non-negative integer, got {value!r}")
    if value < 0:
        raise InvalidInputError(f"{name} must be a non-negative integer, got {value}")


class KeyGenerator(ABC):
    """Common listing semantics of every key source (hidden names, offset, limit, size limit, full paths)."""

    #: Names skipped when `skip_common_hidden` is true (kept as an attribute, as in the original).
    hidden_files: tuple[str, ...] = HIDDEN_NAMES

    def get_file_key(self, file_obj: Any) -> str:
        """The key of one listed item: a KeyInfo, an S3 object dict (`Key`) or a plain string."""
        if isinstance(file_obj, KeyInfo):
            return file_obj.key
        if isinstance(file_obj, Mapping):
            return str(file_obj["Key"])
        return str(file_obj)

    def get_file_size(self, base_path: str, file_obj: Any) -> int:
        """The size in bytes of one listed item (0 when the item carries no size)."""
        if isinstance(file_obj, KeyInfo):
            return file_obj.size
        if isinstance(file_obj, Mapping):
            return int(file_obj.get("Size", 0))
        return 0

    def get_final_path(self, base_path: str, file_key: str, return_full_path: bool) -> str:
        """`normpath(base_path + '/' + file_key)` when `return_full_path`, else the key itself."""
        if return_full_path:
            return os.path.normpath(base_path + "/" + file_key)
        return file_key

    def full_path(self, base_path: str, key: str) -> str:
        """The full path of `key` under `base_path` (what `list_files` returns by default)."""
        return self.get_final_path(base_path, key, True)

    def is_hidden(self, key: str) -> bool:
        """True when `key` or one of its folders is a hidden name of this generator."""
        if self.hidden_files is HIDDEN_NAMES:
            return is_hidden(key)
        return any(part in self.hidden_files for part in key.split("/"))

    def iter_list(
        self,
        all_files: Iterable[Any],
        base_path: str,
        limit: int | None = None,
        offset: int | None = None,
        size_limit: int | None = None,
        return_full_path: bool = True,
        skip_common_hidden: bool = True,
    ) -> Iterator[str]:
        """Lazy `list_iterator`: stops pulling from `all_files` as soon as `limit` items were produced."""
        check_count("limit", limit)
        check_count("offset", offset)
        check_count("size_limit", size_limit)
        return self._iter_list(all_files, base_path, limit, offset, size_limit, return_full_path, skip_common_hidden)

    def _iter_list(
        self,
        all_files: Iterable[Any],
        base_path: str,
        limit: int | None,
        offset: int | None,
        size_limit: int | None,
        return_full_path: bool,
        skip_common_hidden: bool,
    ) -> Iterator[str]:
        index = -1
        listed = 0
        for file_obj in all_files:
            key = self.get_file_key(file_obj)
            if skip_common_hidden and self.is_hidden(key):
                continue
            index += 1  # offset counts every non-hidden item, oversized ones included (original rule)
            if offset and index < offset:
                continue
            if size_limit is not None and self.get_file_size(base_path, file_obj) > size_limit:
                continue
            yield self.get_final_path(base_path, key, return_full_path)
            listed += 1
            if limit and listed >= limit:  # limit 0/None means "no cap", as in the original
                return

    def list_iterator(
        self,
        all_files: Iterable[Any],
        base_path: str,
        limit: int | None = None,
        offset: int | None = None,
        size_limit: int | None = None,
        return_full_path: bool = True,
        skip_common_hidden: bool = True,
    ) -> list[str]:
        """The original's filter: skip hidden names, then apply 0-based offset, limit and size_limit (bytes)."""
        return list(
            self.iter_list(all_files, base_path, limit, offset, size_limit, return_full_path, skip_common_hidden)
        )

    @abstractmethod
    def iter_keys(
        self,
        location: str,
        prefix: str = "",
        *,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        regex: str | None = None,
        min_size: int | None = None,
        max_size: int | None = None,
        modified_since: datetime | None = None,
        start_after: str | None = None,
        recursive: bool = True,
        skip_common_hidden: bool = True,
    ) -> Iterator[KeyInfo]:
        """Stream the keys under `location` (bucket or folder) lazily, in lexicographic order."""

"""LocalKeyGenerator: files under a local folder, recursive, streamed in lexicographic key order."""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from pypeline.errors import InvalidInputError, NotFoundError
from pypeline.generators.base import AccessDeniedError, KeyGenerator, KeyInfo, SourceError, check_count
from pypeline.generators.filters import KeyFilter

__all__ = ["LocalKeyGenerator"]

_UTC = timezone.utc


def _check_root(folder_path: str | os.PathLike[str]) -> str:
    if not isinstance(folder_path, str | os.PathLike):
        raise InvalidInputError(f"folder_path must be a path, got {folder_path!r}")
    root = os.fspath(folder_path)
    if not isinstance(root, str) or not root:
        raise InvalidInputError(f"folder_path must be a non-empty str path, got {folder_path!r}")
    try:
        mode = os.stat(root).st_mode
    except FileNotFoundError:
        raise NotFoundError(f"directory {root!r} does not exist") from None
    except PermissionError as exc:
        raise AccessDeniedError(f"cannot access directory {root!r}: permission denied") from exc
    except OSError as exc:
        raise SourceError(f"cannot access directory {root!r}: {exc}") from exc
    if not stat.S_ISDIR(mode):
        raise InvalidInputError(f"{root!r} is not a directory")
    return root


def _check_key_arg(name: str, value: str | None) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string, got {value!r}")


def _scan(path: str, hidden: frozenset[str]) -> list[str]:
    """Sorted names of one directory's files and sub-directories; directories end with '/'."""
    names: list[str] = []
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                name = entry.name
                if name in hidden:
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):  # symlinked directories are not followed
                        names.append(name + "/")
                    elif entry.is_file():  # regular files and symlinks to files
                        names.append(name)
                except OSError:
                    continue  # vanished or broken entry
    except (FileNotFoundError, NotADirectoryError):
        return names  # removed while we walked
    except PermissionError as exc:
        raise AccessDeniedError(f"cannot read directory {path!r}: permission denied") from exc
    except OSError as exc:
        raise SourceError(f"cannot read directory {path!r}: {exc}") from exc
    # A directory sorts as "name/", so depth-first order is exactly the lexicographic order of full keys.
    names.sort()
    return names


class LocalKeyGenerator(KeyGenerator):
    """Lists the files (never directories) under a local folder, recursively and in sorted key order."""

    def get_file_size(self, base_path: str, file_obj: Any) -> int:
        """Size in bytes; a plain string is a key relative to `base_path` (original behaviour)."""
        if isinstance(file_obj, str):
            return os.path.getsize(os.path.join(base_path, file_obj))
        return super().get_file_size(base_path, file_obj)

    def iter_keys(
        self,
        folder_path: str | os.PathLike[str],
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
        """Stream `KeyInfo`s of files under `folder_path`; keys are relative, '/'-separated and sorted."""
        _check_key_arg("prefix", prefix)
        _check_key_arg("start_after", start_after)
        key_filter = KeyFilter.build(include, exclude, regex, min_size, max_size, modified_since)
        root = _check_root(folder_path)
        hidden = frozenset(self.hidden_files) if skip_common_hidden else frozenset()
        return self._walk(root, prefix or "", start_after, recursive, hidden, key_filter)

    def _walk(
        self,
        root: str,
        prefix: str,
        start_after: str | None,
        recursive: bool,
        hidden: frozenset[str],
        key_filter: KeyFilter,
    ) -> Iterator[KeyInfo]:
        check_key = key_filter.checks_key
        check_meta = key_filter.checks_meta
        sep = os.sep
        # Stack of (relative key prefix, directory path ending in a separator, iterator over its sorted names).
        # Memory is the listings of the directories on the current path, never the whole tree.
        stack = [("", root if root.endswith(sep) else root + sep, iter(_scan(root, hidden)))]
        while stack:
            rel, base, names = stack[-1]
            for name in names:
                if name[-1] == "/":
                    sub = rel + name
                    if not (prefix.startswith(sub) or (recursive and sub.startswith(prefix))):
                        continue  # cannot hold a key matching prefix (or too deep when not recursive)
                    if start_after is not None and sub <= start_after and not start_after.startswith(sub):
                        continue  # every key of this subtree sorts before the resume cursor
                    path = base + name[:-1]
                    stack.append((sub, path + sep, iter(_scan(path, hidden))))
                    break
                key = rel + name
                if prefix and not key.startswith(prefix):
                    continue
                if start_after is not None and key <= start_after:
                    continue
                if check_key and not key_filter.match_key(key):
                    continue
                try:
                    st = os.stat(base + name)
                except FileNotFoundError:
                    continue  # removed since the directory was read
                except PermissionError as exc:
                    raise AccessDeniedError(f"cannot stat {base + name!r}: permission denied") from exc
                modified = datetime.fromtimestamp(st.st_mtime, _UTC)
                if check_meta and not key_filter.match_meta(st.st_size, modified):
                    continue
                yield KeyInfo(key, st.st_size, modified)
            else:
                stack.pop()

    def list_files(
        self,
        folder_path: str | os.PathLike[str],
        limit: int | None = None,
        offset: int | None = None,
        size_limit: int | None = None,
        return_full_path: bool = True,
        skip_common_hidden: bool = True,
    ) -> list[str]:
        """Files under `folder_path`, recursive and sorted: `normpath(folder_path/key)` or relative keys."""
        check_count("limit", limit)
        check_count("offset", offset)
        check_count("size_limit", size_limit)
        keys = self.iter_keys(folder_path, skip_common_hidden=skip_common_hidden)
        return self.list_iterator(
            keys, os.fspath(folder_path), limit, offset, size_limit, return_full_path, skip_common_hidden
        )

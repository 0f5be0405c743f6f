"""LocalKeyGenerator: files under a local folder, recursive, streamed in lexicographic key order.

Confinement: directory symlinks are never descended, and by default (`follow_symlinks=False`, config
`followSymlinks: false`) a file symlink is listed only when its target resolves inside the root; one
pointing outside is skipped and logged. Keys never hold `.`/`..` components, and `open_key` refuses
a key that has them, so a key from a chunk payload cannot address a file outside the root either.
"""
from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import IO, Any

from pypeline.errors import InvalidInputError, NotFoundError, PypelineError
from pypeline.generators.base import (
    AccessDeniedError,
    KeyGenerator,
    KeyInfo,
    SourceError,
    _new_key_info,
    check_count,
)
from pypeline.generators.filters import KeyFilter

__all__ = ["LocalKeyGenerator"]

log = logging.getLogger(__name__)
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


#: POSIX: walk with directory file descriptors (short `fstatat` lookups, no path rebuilding, rename-safe).
_USE_FD = (
    os.scandir in os.supports_fd
    and os.stat in os.supports_dir_fd
    and os.open in os.supports_dir_fd
    and hasattr(os, "O_DIRECTORY")
)
_ROOT_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_CHILD_FLAGS = _ROOT_FLAGS | getattr(os, "O_NOFOLLOW", 0)  # never follow a directory symlink swapped in
_S_IFMT, _S_IFREG = 0o170000, stat.S_IFREG

#: A directory being walked: an open fd (POSIX) or its path ending with a separator (elsewhere).
Handle = int | str


def _os_error(exc: OSError, what: str, path: str) -> PypelineError:
    if isinstance(exc, PermissionError):
        return AccessDeniedError(f"cannot {what} {path!r}: permission denied")
    return SourceError(f"cannot {what} {path!r}: {exc}")


def _open_dir(name: str, parent: Handle | None, shown: str) -> Handle | None:
    """A handle on a directory (the root when `parent` is None); None if it vanished or became a symlink."""
    if not _USE_FD:
        path = name if parent is None else f"{parent}{name}"
        return path if path.endswith(os.sep) else path + os.sep
    try:
        if parent is None:
            return os.open(name, _ROOT_FLAGS)
        return os.open(name, _CHILD_FLAGS, dir_fd=parent)  # type: ignore[arg-type]
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None
        raise _os_error(exc, "open directory", shown) from exc


def _close(handle: Handle) -> None:
    if isinstance(handle, int):
        os.close(handle)


def _inside(path: str, real_root: str) -> bool:
    return path == real_root or path.startswith(real_root.rstrip(os.sep) + os.sep)


def _scan(
    handle: Handle, shown: str, hidden: frozenset[str], real_root: str | None, links: dict[str, str]
) -> list[str]:
    """Sorted names of one directory's entries; directories end with '/', other entries are file candidates.

    With `real_root` (symlinks confined), a symlink resolving inside it is recorded in `links` as
    name -> resolved path (statted instead of the link, so a link swapped later cannot redirect it),
    and one resolving outside is left out.
    """
    names: list[str] = []
    append = names.append
    try:
        with os.scandir(handle) as entries:
            for entry in entries:
                name = entry.name
                if name in hidden:
                    continue
                try:
                    if entry.is_symlink():  # never descended, even to a directory (the stat drops it later)
                        if real_root is not None:
                            target = os.path.realpath(os.path.join(shown, name))
                            if not _inside(target, real_root):
                                log.warning("skipping %s: symlink to %s, outside %s (followSymlinks is off)",
                                            os.path.join(shown, name), target, real_root)
                                continue
                            links[name] = target
                        append(name)
                    elif entry.is_dir():  # not a symlink: nothing to follow (and no keyword-argument parsing)
                        append(name + "/")
                    else:
                        append(name)
                except OSError:
                    continue  # vanished entry
    except (FileNotFoundError, NotADirectoryError):
        return names  # removed while we walked
    except OSError as exc:
        raise _os_error(exc, "read directory", shown) from exc
    # A directory sorts as "name/", so depth-first order is exactly the lexicographic order of full keys.
    names.sort()
    return names


def _vanished(exc: OSError) -> bool:
    """True for a stat error that only means "skip this entry": removed meanwhile, broken link, link loop."""
    return isinstance(exc, FileNotFoundError | NotADirectoryError) or exc.errno == errno.ELOOP


def _key_wanted(key: str, prefix: str, start_after: str | None, key_filter: KeyFilter) -> bool:
    """True when a file key matches the prefix, sorts after the cursor and passes the name filters."""
    if prefix and not key.startswith(prefix):
        return False
    if start_after is not None and key <= start_after:
        return False
    return not key_filter.checks_key or key_filter.match_key(key)


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
        follow_symlinks: bool = False,
    ) -> Iterator[KeyInfo]:
        """Stream `KeyInfo`s of files under `folder_path`; keys are relative, '/'-separated and sorted.

        File symlinks are listed only when they resolve inside `folder_path`, unless `follow_symlinks`;
        directory symlinks are never descended.
        """
        _check_key_arg("prefix", prefix)
        _check_key_arg("start_after", start_after)
        if not isinstance(follow_symlinks, bool):
            raise InvalidInputError(f"follow_symlinks must be true or false, got {follow_symlinks!r}")
        key_filter = KeyFilter.build(include, exclude, regex, min_size, max_size, modified_since)
        root = _check_root(folder_path)
        hidden = frozenset(self.hidden_files) if skip_common_hidden else frozenset()
        real_root = None if follow_symlinks else os.path.realpath(root)
        return self._walk(root, prefix or "", start_after, recursive, hidden, key_filter, real_root)

    def open_key(self, folder_path: str | os.PathLike[str], key: str, *, follow_symlinks: bool = False) -> IO[bytes]:
        """Open a listed key for reading; a key with `..`/absolute components, or (unless `follow_symlinks`)
        one resolving outside `folder_path`, is refused."""
        root = _check_root(folder_path)
        if not isinstance(key, str) or not key or key.startswith("/") or \
                any(part in ("", ".", "..") for part in key.split("/")):
            raise InvalidInputError(f"key {key!r} is not a relative key under the folder")
        path = os.path.join(root, *key.split("/"))
        if not follow_symlinks:
            real_root = os.path.realpath(root)
            path = os.path.realpath(path)
            if not _inside(path, real_root):
                raise InvalidInputError(f"key {key!r} resolves outside {root!r} (followSymlinks is off)")
        try:
            return open(path, "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:
            raise NotFoundError(f"no key {key!r} under {root!r}") from None
        except OSError as exc:
            raise _os_error(exc, "open", path) from exc

    def _walk(
        self,
        root: str,
        prefix: str,
        start_after: str | None,
        recursive: bool,
        hidden: frozenset[str],
        key_filter: KeyFilter,
        real_root: str | None,
    ) -> Iterator[KeyInfo]:
        check_meta, match_meta = key_filter.checks_meta, key_filter.match_meta
        # Only when something can reject a key by name do we pay for the three checks (see _key_wanted).
        selective = bool(prefix) or start_after is not None or key_filter.checks_key
        # Hot loop: everything it touches is a local name.
        use_fd, stat_, fromtimestamp, utc = _USE_FD, os.stat, datetime.fromtimestamp, _UTC
        ifmt, ifreg = _S_IFMT, _S_IFREG
        # KeyInfo is an immutable slots class; filling its slots directly is ~2x cheaper than its __init__.
        new, set_key, set_stat = _new_key_info()
        key_info = KeyInfo
        shown_root = root.rstrip(os.sep) or root
        handle = _open_dir(root, None, root)
        if handle is None:
            raise NotFoundError(f"directory {root!r} does not exist")
        # Stack of (relative key prefix, directory handle, iterator over its sorted names): memory is the
        # listings of the directories on the current path, never the whole tree.
        # `links`: the directory's confined symlinks, name -> resolved path (see _scan).
        stack: list[tuple[str, Handle, Iterator[str], dict[str, str]]] = []
        try:
            links: dict[str, str] = {}
            stack.append(("", handle, iter(_scan(handle, root, hidden, real_root, links)), links))
            while stack:
                rel, handle, names, links = stack[-1]
                if use_fd and not (selective or check_meta or links):
                    # Fast path (the common case: a plain listing, or a resumed one past its cursor): nothing
                    # but the stat can reject a key, so the loop does only that and fills the KeyInfo.
                    for name in names:
                        if name[-1] == "/":
                            break  # a subdirectory: see below
                        try:
                            st = stat_(name, dir_fd=handle)  # type: ignore[arg-type]  # an fd here
                        except OSError as exc:
                            if _vanished(exc):
                                continue
                            raise _os_error(exc, "stat", f"{shown_root}/{rel}{name}") from exc
                        if st.st_mode & ifmt != ifreg:
                            continue  # files only: no FIFOs, sockets, devices or symlinks to directories
                        info = new(key_info)
                        set_key(info, rel + name)
                        set_stat(info, st)  # `size` and `modified` are read from it when first asked
                        yield info
                    else:
                        stack.pop()
                        _close(handle)
                        continue
                else:
                    for name in names:
                        if name[-1] == "/":
                            break
                        key = rel + name
                        if selective:
                            if not _key_wanted(key, prefix, start_after, key_filter):
                                continue
                            if start_after is not None:
                                # Keys come in strictly increasing order: every later one is past the cursor.
                                start_after = None
                                selective = bool(prefix) or key_filter.checks_key
                        try:
                            if links and name in links:
                                st = stat_(links[name])
                            else:
                                st = stat_(name, dir_fd=handle) if use_fd else stat_(handle + name)  # type: ignore[arg-type,operator]
                        except OSError as exc:
                            if _vanished(exc):
                                continue
                            raise _os_error(exc, "stat", f"{shown_root}/{key}") from exc
                        if st.st_mode & ifmt != ifreg:
                            continue
                        if check_meta:
                            size, modified = st.st_size, fromtimestamp(st.st_mtime, utc)
                            if match_meta(size, modified):
                                yield key_info(key, size, modified)
                            continue
                        info = new(key_info)
                        set_key(info, key)
                        set_stat(info, st)
                        yield info
                    else:
                        stack.pop()
                        _close(handle)
                        continue
                # `name` is a subdirectory ("x/"): descend unless it cannot hold a wanted key. Its parent's
                # iterator stays on the stack, so the next round carries on after it.
                sub = rel + name
                if not (prefix.startswith(sub) or (recursive and sub.startswith(prefix))):
                    continue  # cannot hold a key matching prefix (or too deep when not recursive)
                if start_after is not None and sub <= start_after and not start_after.startswith(sub):
                    continue  # every key of this subtree sorts before the resume cursor
                shown = f"{shown_root}/{sub[:-1]}"
                child = _open_dir(name[:-1], handle, shown)
                if child is None:
                    continue
                child_links: dict[str, str] = {}
                try:
                    listing = _scan(child, shown, hidden, real_root, child_links)
                except BaseException:
                    _close(child)
                    raise
                stack.append((sub, child, iter(listing), child_links))
        finally:
            for _rel, handle, _names, _links in stack:
                _close(handle)

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

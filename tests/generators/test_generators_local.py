"""LocalKeyGenerator on temporary trees: recursion, order, hidden names, offsets, filters, resume, errors."""
from __future__ import annotations

import itertools
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pypeline.errors import InvalidInputError, NotFoundError, PypelineError
from pypeline.generators import AccessDeniedError, KeyInfo, LocalKeyGenerator
from pypeline.generators import local as local_mod

UTC = timezone.utc

#: key -> size in bytes; hidden ones must never show up by default.
FILES = {
    "a.txt": 3,
    "b/c.txt": 10,
    "b/d/e.txt": 100,
    "b/d/f.csv": 1000,
    "x-y.txt": 5,  # '-' sorts before '/', so this comes before every "x/..." key
    "x/1.txt": 1,
    "x/z/2.csv": 2,
    "z.csv": 0,
    "Ü/naïve.txt": 7,
}
HIDDEN = {"b/.DS_Store": 4, ".git/config": 4, ".git/objects/ab": 4, "Icon": 1, "x/.Dropbox/f.txt": 2}
VISIBLE = sorted(FILES)


def write(root: Path, files: dict[str, int]) -> None:
    """Create files of the given sizes under root."""
    for key, size in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A tree with nested dirs, hidden names, an empty dir, and symlinks to a file and to a dir."""
    root = tmp_path / "root"
    write(root, FILES | HIDDEN)
    (root / "empty" / "deeper").mkdir(parents=True)
    return root


@pytest.fixture
def gen() -> LocalKeyGenerator:
    """The generator under test."""
    return LocalKeyGenerator()


def keys(infos: object) -> list[str]:
    """Keys of an iterable of KeyInfo."""
    return [i.key for i in infos]  # type: ignore[attr-defined]


def test_list_files_is_recursive_sorted_files_only_full_paths(gen: LocalKeyGenerator, tree: Path) -> None:
    assert gen.list_files(str(tree)) == [os.path.normpath(f"{tree}/{k}") for k in VISIBLE]


def test_relative_keys_and_pathlike(gen: LocalKeyGenerator, tree: Path) -> None:
    assert gen.list_files(tree, return_full_path=False) == VISIBLE


def test_order_is_full_key_lexicographic_not_per_directory_name(gen: LocalKeyGenerator, tree: Path) -> None:
    listed = keys(gen.iter_keys(tree))
    assert listed == sorted(listed)
    assert listed.index("x-y.txt") < listed.index("x/1.txt")  # plain per-dir name sort would put "x" first


def test_hidden_names_skipped_at_any_depth_and_kept_on_request(gen: LocalKeyGenerator, tree: Path) -> None:
    assert not set(HIDDEN) & set(keys(gen.iter_keys(tree)))
    everything = gen.list_files(tree, return_full_path=False, skip_common_hidden=False)
    assert everything == sorted(FILES | HIDDEN)


def test_in_root_symlinked_files_listed_symlinked_dirs_not_followed(gen: LocalKeyGenerator, tree: Path) -> None:
    (tree / "link.txt").symlink_to(tree / "a.txt")
    (tree / "linkdir").symlink_to(tree / "b", target_is_directory=True)
    (tree / "broken").symlink_to(tree / "missing")
    listed = keys(gen.iter_keys(tree))
    assert "link.txt" in listed
    assert not any(k.startswith(("linkdir", "broken")) for k in listed)


def test_keyinfo_has_size_and_utc_mtime_and_is_frozen(gen: LocalKeyGenerator, tree: Path) -> None:
    stamp = datetime(2021, 5, 6, 7, 8, 9, tzinfo=UTC)
    os.utime(tree / "b" / "c.txt", (stamp.timestamp(), stamp.timestamp()))
    info = {i.key: i for i in gen.iter_keys(tree)}["b/c.txt"]
    assert info == KeyInfo("b/c.txt", 10, stamp)
    assert info.modified.tzinfo is UTC
    with pytest.raises(AttributeError):
        info.size = 1  # type: ignore[misc]


def test_offset_limit_size_limit_follow_the_original(gen: LocalKeyGenerator, tree: Path) -> None:
    rel = {"return_full_path": False}
    assert gen.list_files(tree, limit=3, **rel) == VISIBLE[:3]
    assert gen.list_files(tree, offset=2, **rel) == VISIBLE[2:]
    assert gen.list_files(tree, limit=2, offset=4, **rel) == VISIBLE[4:6]
    assert gen.list_files(tree, offset=len(VISIBLE), **rel) == []
    assert gen.list_files(tree, limit=0, **rel) == VISIBLE  # limit 0 means "no cap", as in the original
    small = [k for k in VISIBLE if FILES[k] <= 10]
    assert gen.list_files(tree, size_limit=10, **rel) == small
    # offset counts oversized items too: skipping the first 3 items, then dropping big ones.
    assert gen.list_files(tree, offset=3, size_limit=10, **rel) == [k for k in VISIBLE[3:] if FILES[k] <= 10]
    assert gen.list_files(tree, size_limit=0, **rel) == ["z.csv"]


def test_original_positional_signature(gen: LocalKeyGenerator, tree: Path) -> None:
    assert gen.list_files(str(tree), 2, 1, None, False, True) == VISIBLE[1:3]


def test_list_iterator_original_semantics_on_plain_names(gen: LocalKeyGenerator, tmp_path: Path) -> None:
    write(tmp_path, {"a": 1, "b": 50, "c": 2, ".DS_Store": 1, "Icon": 1, "d": 3})
    names = ["a", ".DS_Store", "b", "Icon", "c", "d"]
    assert gen.list_iterator(names, str(tmp_path), return_full_path=False) == ["a", "b", "c", "d"]
    assert gen.list_iterator(names, str(tmp_path), offset=1, limit=2, return_full_path=False) == ["b", "c"]
    assert gen.list_iterator(names, str(tmp_path), size_limit=2, return_full_path=False) == ["a", "c"]
    assert gen.list_iterator(names, str(tmp_path) + "/x/..", limit=1) == [str(tmp_path / "a")]
    assert gen.list_iterator(names, str(tmp_path), skip_common_hidden=False, limit=2, return_full_path=False) == [
        "a",
        ".DS_Store",
    ]


@pytest.mark.parametrize("cursor", ["", "a", "a.txt", "b/", "b/c", "b/d/", "b/d/e.txt", "x", "x-y.txt", "x/", "zz"])
def test_start_after_yields_exactly_the_rest(gen: LocalKeyGenerator, tree: Path, cursor: str) -> None:
    assert keys(gen.iter_keys(tree, start_after=cursor)) == [k for k in VISIBLE if k > cursor]


def test_start_after_every_listed_key_resumes_exactly(gen: LocalKeyGenerator, tree: Path) -> None:
    for i, key in enumerate(VISIBLE):
        assert keys(gen.iter_keys(tree, start_after=key)) == VISIBLE[i + 1 :]


def spy_scans(monkeypatch: pytest.MonkeyPatch, tree: Path) -> list[str]:
    """Record, relative to tree, every directory the generator reads."""
    scanned: list[str] = []
    real = local_mod._scan

    def spy(handle: object, shown: str, *args: Any) -> list[str]:
        scanned.append(os.path.relpath(shown, tree))
        return real(handle, shown, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(local_mod, "_scan", spy)
    return scanned


def test_start_after_does_not_scan_subtrees_before_the_cursor(
    gen: LocalKeyGenerator, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scanned = spy_scans(monkeypatch, tree)
    assert keys(gen.iter_keys(tree, start_after="x/1.txt")) == ["x/z/2.csv", "z.csv", "Ü/naïve.txt"]
    assert scanned == [".", "x", "x/z", "Ü"]


def test_prefix_does_not_scan_unrelated_subtrees(
    gen: LocalKeyGenerator, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scanned = spy_scans(monkeypatch, tree)
    assert keys(gen.iter_keys(tree, "b/d/")) == ["b/d/e.txt", "b/d/f.csv"]
    assert scanned == [".", "b", "b/d"]


def test_iteration_is_lazy(gen: LocalKeyGenerator, tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scanned = spy_scans(monkeypatch, tree)
    it = gen.iter_keys(tree)
    assert scanned == []
    assert next(it).key == "a.txt"
    assert scanned == ["."]  # only the root has been read


def test_abandoned_iteration_closes_directory_fds(gen: LocalKeyGenerator, tree: Path) -> None:
    if not local_mod._USE_FD or not os.path.isdir("/proc/self/fd"):
        pytest.skip("directory fds are only used (and countable) on Linux-like systems")
    before = len(os.listdir("/proc/self/fd"))
    it = gen.iter_keys(tree)
    assert next(it).key == "a.txt" and next(it).key == "b/c.txt"  # root and b/ are open now
    assert len(os.listdir("/proc/self/fd")) >= before + 2
    it.close()
    assert len(os.listdir("/proc/self/fd")) == before
    assert len(keys(gen.iter_keys(tree))) == len(VISIBLE)
    assert len(os.listdir("/proc/self/fd")) == before


def test_prefix_selects_a_subtree_or_a_name_start(gen: LocalKeyGenerator, tree: Path) -> None:
    assert keys(gen.iter_keys(tree, "b/")) == ["b/c.txt", "b/d/e.txt", "b/d/f.csv"]
    assert keys(gen.iter_keys(tree, "b/d")) == ["b/d/e.txt", "b/d/f.csv"]
    assert keys(gen.iter_keys(tree, "x")) == ["x-y.txt", "x/1.txt", "x/z/2.csv"]
    assert keys(gen.iter_keys(tree, "nothing/")) == []


def test_non_recursive_lists_direct_children_only(gen: LocalKeyGenerator, tree: Path) -> None:
    assert keys(gen.iter_keys(tree, recursive=False)) == ["a.txt", "x-y.txt", "z.csv"]
    assert keys(gen.iter_keys(tree, "b/", recursive=False)) == ["b/c.txt"]
    assert keys(gen.iter_keys(tree, "b/d/", recursive=False)) == ["b/d/e.txt", "b/d/f.csv"]


def test_glob_regex_and_size_filters(gen: LocalKeyGenerator, tree: Path) -> None:
    assert keys(gen.iter_keys(tree, include="*.csv")) == ["b/d/f.csv", "x/z/2.csv", "z.csv"]
    assert keys(gen.iter_keys(tree, include=["b/*", "z*"])) == ["b/c.txt", "b/d/e.txt", "b/d/f.csv", "z.csv"]
    assert keys(gen.iter_keys(tree, include="*.csv", exclude="x/*")) == ["b/d/f.csv", "z.csv"]
    assert keys(gen.iter_keys(tree, regex=r"^b/d/")) == ["b/d/e.txt", "b/d/f.csv"]
    assert keys(gen.iter_keys(tree, min_size=10, max_size=100)) == ["b/c.txt", "b/d/e.txt"]
    assert keys(gen.iter_keys(tree, include="*.txt", min_size=5)) == ["b/c.txt", "b/d/e.txt", "x-y.txt", "Ü/naïve.txt"]


def test_modified_since(gen: LocalKeyGenerator, tree: Path) -> None:
    old = (datetime.now(UTC) - timedelta(days=10)).timestamp()
    for key in VISIBLE:
        if key != "b/c.txt":
            os.utime(tree / key, (old, old))
    since = datetime.now(UTC) - timedelta(days=1)
    assert keys(gen.iter_keys(tree, modified_since=since)) == ["b/c.txt"]
    naive_utc = since.replace(tzinfo=None)  # naive means UTC
    assert keys(gen.iter_keys(tree, modified_since=naive_utc)) == ["b/c.txt"]


def test_missing_dir_is_not_found(gen: LocalKeyGenerator, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(NotFoundError, match="does not exist"):
        gen.list_files(str(missing))
    with pytest.raises(NotFoundError):
        gen.iter_keys(missing)  # raised at the call, not at the first next()


def test_file_instead_of_dir_and_bad_arguments(gen: LocalKeyGenerator, tree: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a directory"):
        gen.list_files(tree / "a.txt")
    for kwargs in ({"limit": -1}, {"offset": -2}, {"size_limit": -1}, {"limit": "3"}):
        with pytest.raises(InvalidInputError):
            gen.list_files(tree, **kwargs)  # type: ignore[arg-type]
    for kwargs in ({"min_size": 5, "max_size": 1}, {"regex": "("}, {"include": 3}, {"start_after": 1}):
        with pytest.raises(InvalidInputError):
            gen.iter_keys(tree, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        gen.iter_keys("")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any directory")
def test_unreadable_subdir_raises_access_denied(gen: LocalKeyGenerator, tree: Path) -> None:
    (tree / "b" / "d").chmod(0)
    try:
        with pytest.raises(AccessDeniedError, match="permission denied"):
            gen.list_files(tree)
    finally:
        (tree / "b" / "d").chmod(0o755)


def test_permission_error_maps_to_access_denied(
    gen: LocalKeyGenerator, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.scandir

    def deny(handle: object) -> object:
        if handle != str(tree) and not (isinstance(handle, int) and os.path.samefile(f"/proc/self/fd/{handle}", tree)):
            raise PermissionError(13, "Permission denied")
        return real(handle)  # type: ignore[arg-type]

    if local_mod._USE_FD and not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to tell directory fds apart")
    monkeypatch.setattr(local_mod.os, "scandir", deny)
    with pytest.raises(AccessDeniedError, match="cannot read directory .*b'?: permission denied") as caught:
        gen.list_files(tree)
    assert isinstance(caught.value, PypelineError) and caught.value.code == "access_denied"


def test_file_removed_during_walk_is_skipped(gen: LocalKeyGenerator, tree: Path) -> None:
    it = gen.iter_keys(tree)
    assert next(it).key == "a.txt"  # root already read: b/ and x-y.txt are known names
    (tree / "x-y.txt").unlink()
    assert "x-y.txt" not in keys(it)


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    """~3,000 files over nested dirs whose names sort around '/' ("a", "a.b", "a-b", "a/..."): key -> mtime."""
    root = tmp_path_factory.mktemp("big")
    mtimes: dict[str, float] = {}
    for i in range(3000):
        top = ("a", "a.b", "a-b", "a0", "b")[i % 5]
        key = f"{top}/{i % 7:02d}/f{i:05d}.dat" if i % 3 else f"{top}/f{i:05d}.dat"
        if i % 11 == 0:
            key = f"{top}.{i:05d}"  # files beside the directory of the same stem
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (i % 13))
        stamp = 1_600_000_000.123456 + i * 61.5
        os.utime(path, (stamp, stamp))
        mtimes[key] = stamp
    return root, mtimes


def test_large_tree_order_sizes_and_lazy_mtimes_match_the_filesystem(
    gen: LocalKeyGenerator, big_tree: tuple[Path, dict[str, float]]
) -> None:
    root, mtimes = big_tree
    listed = list(gen.iter_keys(root))
    assert [i.key for i in listed] == sorted(mtimes)  # full-key lexicographic order
    for info in listed[::37]:
        assert info.size == (root / info.key).stat().st_size
        assert info.modified == datetime.fromtimestamp(mtimes[info.key], UTC)  # built on first read
        assert info.modified is info.modified and info.modified.tzinfo is UTC
        assert info == KeyInfo(info.key, info.size, info.modified)
        assert hash(info) == hash(KeyInfo(info.key, info.size, info.modified))


def test_large_tree_resumes_exactly_from_any_cursor(
    gen: LocalKeyGenerator, big_tree: tuple[Path, dict[str, float]]
) -> None:
    root, mtimes = big_tree
    every = sorted(mtimes)
    cursors = [*every[::149], every[-1], "", "a", "a/", "a.b", "a/05/", "a0/zz", "b/06/f99999.dat", "zzz"]
    for cursor in cursors:
        assert keys(gen.iter_keys(root, start_after=cursor)) == [k for k in every if k > cursor], cursor
    # Resuming in slices (as a batch does with its persisted cursor) yields every key exactly once, in order.
    resumed: list[str] = []
    cursor_or_none: str | None = None
    while True:
        page = [i.key for i in itertools.islice(gen.iter_keys(root, start_after=cursor_or_none), 401)]
        if not page:
            break
        resumed += page
        cursor_or_none = page[-1]
    assert resumed == every


def test_keyinfo_pickles_reprs_and_stays_immutable(
    gen: LocalKeyGenerator, big_tree: tuple[Path, dict[str, float]]
) -> None:
    import pickle

    root, _ = big_tree
    lazy = next(iter(gen.iter_keys(root)))
    eager = KeyInfo(lazy.key, lazy.size, lazy.modified)
    for info in (next(iter(gen.iter_keys(root))), eager):  # a fresh lazy one: pickled before `modified` is read
        assert pickle.loads(pickle.dumps(info)) == eager
        assert repr(info) == f"KeyInfo(key={eager.key!r}, size={eager.size!r}, modified={eager.modified!r})"
        for attr in ("key", "size", "modified", "_stat"):
            with pytest.raises(AttributeError):
                setattr(info, attr, 1)
        with pytest.raises(AttributeError):
            del info.key
    assert eager != KeyInfo(eager.key, eager.size + 1, eager.modified) and eager != (eager.key,)

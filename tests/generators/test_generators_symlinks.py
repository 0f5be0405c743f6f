"""Local generator confinement: symlinks out of the root are skipped unless `followSymlinks`, `..` never escapes."""
from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from pypeline.config import load_config_text
from pypeline.config.model import GeneratorConfig
from pypeline.errors import ConfigError, InvalidInputError
from pypeline.generators import LocalKeyGenerator, iter_keys_from_config


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """root/ with a file, an in-root file symlink, escaping file symlinks (absolute and via ..), and a secret."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "sub" / "b.txt").write_text("bb")
    (tmp_path / "secret.txt").write_text("top secret")
    (root / "inside.txt").symlink_to(root / "sub" / "b.txt")
    (root / "sub" / "relative-inside.txt").symlink_to("../a.txt")
    (root / "escape-abs.txt").symlink_to(tmp_path / "secret.txt")
    (root / "sub" / "escape-rel.txt").symlink_to("../../secret.txt")
    (root / "chain.txt").symlink_to(root / "escape-abs.txt")  # in-root link to an escaping link
    return root


def _keys(root: Path, **kwargs: object) -> list[str]:
    return [i.key for i in LocalKeyGenerator().iter_keys(root, **kwargs)]  # type: ignore[arg-type]


def test_escaping_symlinks_are_skipped_and_logged_by_default(layout: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pypeline.generators.local"):
        listed = _keys(layout)
    assert listed == ["a.txt", "inside.txt", "sub/b.txt", "sub/relative-inside.txt"]
    logged = caplog.text
    for name in ("escape-abs.txt", "escape-rel.txt", "chain.txt"):
        assert name in logged
    assert "followSymlinks" in logged


def test_in_root_symlink_is_listed_with_its_target_size(layout: Path) -> None:
    infos = {i.key: i for i in LocalKeyGenerator().iter_keys(layout)}
    assert infos["inside.txt"].size == 2 and infos["sub/relative-inside.txt"].size == 1


def test_follow_symlinks_lists_links_leaving_the_root(layout: Path) -> None:
    listed = _keys(layout, follow_symlinks=True)
    assert {"escape-abs.txt", "sub/escape-rel.txt", "chain.txt"} <= set(listed)
    assert listed == sorted(listed)


def test_resume_after_a_skipped_link_keeps_order(layout: Path) -> None:
    assert _keys(layout, start_after="chain.txt") == ["inside.txt", "sub/b.txt", "sub/relative-inside.txt"]


def test_config_key_reaches_the_generator(layout: Path) -> None:
    def config(follow: str) -> GeneratorConfig:
        text = textwrap.dedent(f"""
            pipelines:
              p:
                name: p
                config:
                  taskDefinitions: {{a: {{handler: some.module.fn}}}}
            batches:
              files:
                pipeline: p
                generator: {{type: local, path: "{layout}"{follow}}}
            """)
        return load_config_text(text, check_handlers=False).batches["files"].generator

    assert "escape-abs.txt" not in [i.key for i in iter_keys_from_config(config(""))]
    assert "escape-abs.txt" not in [i.key for i in iter_keys_from_config(config(", followSymlinks: false"))]
    assert "escape-abs.txt" in [i.key for i in iter_keys_from_config(config(", followSymlinks: true"))]


def test_config_rejects_follow_symlinks_for_s3_and_non_bool() -> None:
    base = "pipelines:\n  p:\n    name: p\n    config:\n      taskDefinitions: {a: {handler: m.f}}\nbatches:\n"
    with pytest.raises(ConfigError, match="followSymlinks"):
        load_config_text(base + "  b: {pipeline: p, generator: {type: s3, bucket: x, followSymlinks: true}}\n",
                         check_handlers=False)
    with pytest.raises(ConfigError, match="followSymlinks"):
        load_config_text(base + "  b: {pipeline: p, generator: {type: local, path: /x, followSymlinks: maybe}}\n",
                         check_handlers=False)
    with pytest.raises(InvalidInputError, match="follow_symlinks"):
        list(iter_keys_from_config(GeneratorConfig("local", {"path": "/", "follow_symlinks": "yes"})))


def test_open_key_is_confined(layout: Path) -> None:
    gen = LocalKeyGenerator()
    with gen.open_key(layout, "sub/relative-inside.txt") as fh:
        assert fh.read() == b"a"
    for key in ("../secret.txt", "sub/../../secret.txt", "/etc/passwd", "sub//b.txt", "./a.txt", ""):
        with pytest.raises(InvalidInputError):
            gen.open_key(layout, key)
    with pytest.raises(InvalidInputError, match="outside"):
        gen.open_key(layout, "escape-abs.txt")
    with gen.open_key(layout, "escape-abs.txt", follow_symlinks=True) as fh:
        assert fh.read() == b"top secret"
    with pytest.raises(InvalidInputError):  # `..` is refused even when links may be followed
        gen.open_key(layout, "sub/../../secret.txt", follow_symlinks=True)

"""make_generator / iter_keys_from_config: GeneratorConfig options mapped onto the generators."""
from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pypeline.config import load_config_text
from pypeline.config.model import GeneratorConfig
from pypeline.errors import InvalidInputError, NotFoundError
from pypeline.generators import (
    GENERATOR_OPTIONS,
    LocalKeyGenerator,
    S3KeyGenerator,
    iter_keys_from_config,
    location_of,
    make_generator,
)

UTC = timezone.utc


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """in/a.csv (1 B), in/b.csv (5 B), in/c.txt, in/sub/d.csv, top.csv, in/.DS_Store."""
    for key, size in {"in/a.csv": 1, "in/b.csv": 5, "in/c.txt": 2, "in/sub/d.csv": 3, "top.csv": 4}.items():
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(b"x" * size)
    (tmp_path / "in" / ".DS_Store").write_bytes(b"x")
    return tmp_path


def keys_of(config: GeneratorConfig, **kwargs: str) -> list[str]:
    """Keys the config selects."""
    return [i.key for i in iter_keys_from_config(config, **kwargs)]


def test_local_options_are_mapped(tree: Path) -> None:
    config = GeneratorConfig("local", {"path": str(tree), "prefix": "in/", "include": ["*.csv"], "min_size": 2})
    assert isinstance(make_generator(config), LocalKeyGenerator)
    assert location_of(config) == str(tree)
    assert keys_of(config) == ["in/b.csv", "in/sub/d.csv"]
    assert keys_of(config, start_after="in/b.csv") == ["in/sub/d.csv"]
    flat = GeneratorConfig("local", {"path": str(tree), "prefix": "in/", "recursive": False, "exclude": "*.txt"})
    assert keys_of(flat) == ["in/a.csv", "in/b.csv"]
    assert keys_of(GeneratorConfig("local", {"path": str(tree), "regex": r"^in/[ab]"})) == ["in/a.csv", "in/b.csv"]
    shown = GeneratorConfig("local", {"path": str(tree), "prefix": "in/.", "skip_common_hidden": False})
    assert keys_of(shown) == ["in/.DS_Store"]


def test_modified_since_accepts_iso_strings_and_datetimes(tree: Path) -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    for since in (past.isoformat(), past.isoformat().replace("+00:00", "Z"), past):
        assert len(keys_of(GeneratorConfig("local", {"path": str(tree), "modified_since": since}))) == 5
    future = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert keys_of(GeneratorConfig("local", {"path": str(tree), "modified_since": future})) == []


@pytest.mark.parametrize(
    "config",
    [
        GeneratorConfig("ftp", {"path": "/x"}),  # type: ignore[arg-type]
        GeneratorConfig("local", {}),
        GeneratorConfig("local", {"path": ""}),
        GeneratorConfig("local", {"path": "/x", "bucket": "b"}),
        GeneratorConfig("local", {"path": "/x", "pathh": "/y"}),
        GeneratorConfig("s3", {"prefix": "p/"}),
        GeneratorConfig("s3", {"bucket": "b", "recursive": "yes"}),
        GeneratorConfig("s3", {"bucket": "b", "region": 5}),
        GeneratorConfig("s3", {"bucket": "b", "aws_secret_access_key": "never in config files"}),
    ],
)
def test_bad_configs_are_invalid_input(config: GeneratorConfig) -> None:
    with pytest.raises(InvalidInputError):
        make_generator(config)


def test_bad_option_values_fail_at_call_time(tree: Path) -> None:
    for options in ({"min_size": -1}, {"regex": "("}, {"modified_since": "not a date"}, {"include": 7}):
        with pytest.raises(InvalidInputError):
            iter_keys_from_config(GeneratorConfig("local", {"path": str(tree), **options}))
    with pytest.raises(NotFoundError):
        iter_keys_from_config(GeneratorConfig("local", {"path": str(tree / "missing")}))


def test_option_names_match_the_config_schema() -> None:
    assert GENERATOR_OPTIONS["s3"] >= {"bucket", "prefix", "endpoint_url", "region", "include", "modified_since"}
    assert GENERATOR_OPTIONS["local"] >= {"path", "prefix", "exclude", "regex", "min_size", "max_size", "recursive"}


def test_s3_options_are_mapped(moto_endpoint: str, make_bucket: Callable[..., str]) -> None:
    bucket = make_bucket({"in/a.csv": b"1", "in/b.csv": b"12345", "in/c.txt": b"12", "out/d.csv": b"123"})
    config = GeneratorConfig(
        "s3",
        {"bucket": bucket, "prefix": "in/", "include": "*.csv", "endpoint_url": moto_endpoint, "region": "eu-west-1"},
    )
    generator = make_generator(config)
    assert isinstance(generator, S3KeyGenerator)
    assert generator.client.meta.region_name == "eu-west-1"
    assert generator.client.meta.endpoint_url == moto_endpoint
    assert keys_of(config) == ["in/a.csv", "in/b.csv"]
    assert keys_of(config, start_after="in/a.csv") == ["in/b.csv"]
    sized = GeneratorConfig("s3", {"bucket": bucket, "endpoint_url": moto_endpoint, "min_size": 3, "max_size": 3})
    assert keys_of(sized) == ["out/d.csv"]


def test_generator_built_from_a_loaded_yaml_config(tree: Path) -> None:
    text = textwrap.dedent(
        f"""
        pipelines:
          p:
            name: p
            config:
              taskDefinitions: {{a: {{handler: some.module.fn}}}}
        batches:
          files:
            pipeline: p
            generator:
              type: local
              path: {tree}
              prefix: in/
              include: ["*.csv"]
              maxSize: 3
              modifiedSince: 2000-01-01T00:00:00Z
        """
    )
    config = load_config_text(text, check_handlers=False)
    assert keys_of(config.batches["files"].generator) == ["in/a.csv", "in/sub/d.csv"]

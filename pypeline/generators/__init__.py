"""Key generators: list S3 or local keys lazily, filtered and resumable, to feed batches of pipeline runs."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pypeline.config.batch_defaults import GENERATOR_FILTER_KEYS
from pypeline.errors import InvalidInputError
from pypeline.generators.base import (
    HIDDEN_NAMES,
    AccessDeniedError,
    KeyGenerator,
    KeyInfo,
    SourceError,
    is_hidden,
)
from pypeline.generators.filters import KeyFilter, parse_datetime
from pypeline.generators.local import LocalKeyGenerator
from pypeline.generators.s3 import S3KeyGenerator, translate_s3_error

if TYPE_CHECKING:
    from pypeline.config.model import GeneratorConfig

__all__ = [
    "HIDDEN_NAMES",
    "GENERATOR_OPTIONS",
    "AccessDeniedError",
    "SourceError",
    "KeyInfo",
    "KeyFilter",
    "KeyGenerator",
    "LocalKeyGenerator",
    "S3KeyGenerator",
    "is_hidden",
    "parse_datetime",
    "translate_s3_error",
    "make_generator",
    "iter_keys_from_config",
    "location_of",
]

_COMMON = GENERATOR_FILTER_KEYS

#: Options each generator type accepts in `batches.<id>.generator.options` (credentials come from the boto3 chain).
GENERATOR_OPTIONS: dict[str, frozenset[str]] = {
    "s3": _COMMON | {"bucket", "endpoint_url", "region"},
    "local": _COMMON | {"path", "follow_symlinks"},
}
_LOCATION = {"s3": "bucket", "local": "path"}


def _options(config: GeneratorConfig) -> Mapping[str, Any]:
    if config.type not in GENERATOR_OPTIONS:
        raise InvalidInputError(f"unknown generator type {config.type!r}; expected one of {sorted(GENERATOR_OPTIONS)}")
    options = dict(config.options or {})
    unknown = sorted(set(options) - GENERATOR_OPTIONS[config.type])
    if unknown:
        allowed = sorted(GENERATOR_OPTIONS[config.type])
        raise InvalidInputError(f"unknown {config.type} generator option(s) {unknown}; allowed: {allowed}")
    required = _LOCATION[config.type]
    if not isinstance(options.get(required), str) or not options[required]:
        raise InvalidInputError(f"{config.type} generator needs option {required!r} (a non-empty string)")
    for name in ("prefix", "endpoint_url", "region"):
        if options.get(name) is not None and not isinstance(options[name], str):
            raise InvalidInputError(f"generator option {name!r} must be a string, got {options[name]!r}")
    for name in ("recursive", "skip_common_hidden", "follow_symlinks"):
        if name in options and not isinstance(options[name], bool):
            raise InvalidInputError(f"generator option {name!r} must be true or false, got {options[name]!r}")
    return options


def location_of(config: GeneratorConfig) -> str:
    """The bucket (s3) or folder path (local) a generator config lists."""
    return str(_options(config)[_LOCATION[config.type]])


def make_generator(config: GeneratorConfig) -> KeyGenerator:
    """The KeyGenerator a `GeneratorConfig` describes (S3 client built from `region`/`endpoint_url`)."""
    options = _options(config)
    if config.type == "s3":
        return S3KeyGenerator(aws_region=options.get("region"), endpoint_url=options.get("endpoint_url"))
    return LocalKeyGenerator()


def iter_keys_from_config(config: GeneratorConfig, *, start_after: str | None = None) -> Iterator[KeyInfo]:
    """Stream the keys a `GeneratorConfig` selects, resuming strictly after `start_after` when given."""
    options = _options(config)
    since = options.get("modified_since")
    local_only = {"follow_symlinks": options.get("follow_symlinks", False)} if config.type == "local" else {}
    return make_generator(config).iter_keys(
        options[_LOCATION[config.type]],
        options.get("prefix") or "",
        include=options.get("include"),
        exclude=options.get("exclude"),
        regex=options.get("regex"),
        min_size=options.get("min_size"),
        max_size=options.get("max_size"),
        modified_since=None if since is None else parse_datetime(since),
        start_after=start_after,
        recursive=options.get("recursive", True),
        skip_common_hidden=options.get("skip_common_hidden", True),
        **local_only,
    )

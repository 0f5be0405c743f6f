"""The original's `sermos_yaml` loaders over the new config loader (`pypeline.config`)."""
from __future__ import annotations

import importlib
import logging
import os
import re
from typing import Any

import yaml

from pypeline.compat.schemas import SermosYamlSchema
from pypeline.config import PypelineConfig, load_config, load_config_text
from pypeline.errors import ConfigError, ConfigIssue
from pypeline.settings import PACKAGED_CONFIG_NAMES, packaged_config_path

__all__ = ["InvalidPackagePath", "InvalidSermosConfig", "MissingSermosConfig", "SermosYamlSchema",
           "YamlPatternConstructor", "parse_config_file", "load_sermos_config", "load_client_config_and_version"]

log = logging.getLogger(__name__)


class InvalidPackagePath(ConfigError):
    """The client package named for the config cannot be imported."""


class InvalidSermosConfig(ConfigError):
    """The config file is not valid YAML or not a valid config."""


class MissingSermosConfig(ConfigError):
    """The client package has no config file at the expected path."""


def _issue(message: str) -> list[ConfigIssue]:
    return [ConfigIssue(message)]


class YamlPatternConstructor:
    """`${VAR}` / `${VAR:default}` scalars resolved from the environment, on a loader of your choice.

    The original registered this on PyYAML's global SafeLoader; this registers on `loader` (default: a
    private SafeLoader subclass, `YamlPatternConstructor.Loader`), so other YAML users are unaffected.
    The config loader already interpolates env vars itself; this class is for callers' own YAML.
    """

    class Loader(yaml.SafeLoader):
        """SafeLoader with env-var interpolation added by `add_constructor()`."""

    def __init__(self, env_var_pattern: str | None = None, add_constructor: bool = True,
                 loader: type[yaml.SafeLoader] | None = None) -> None:
        self.env_var_pattern = env_var_pattern or r"^\$\{(.*)\}$"
        self.path_matcher = re.compile(self.env_var_pattern)
        self.loader = loader or self.Loader
        if add_constructor:
            self.add_constructor()

    def _path_constructor(self, loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str | None:
        match = re.match(self.env_var_pattern, node.value)
        if match is None:
            return None
        name, sep, default = match.group(1).partition(":")
        value = os.environ.get(name)
        if value is not None:
            return value
        return default if sep else "unset"

    def add_constructor(self) -> None:
        """Register the resolver and constructor on this instance's loader."""
        self.loader.add_implicit_resolver("!env_var", self.path_matcher, None)
        self.loader.add_constructor("!env_var", self._path_constructor)


def parse_config_file(sermos_yaml: str) -> dict[str, Any]:
    """Parse and validate config text; returns the parsed mapping or raises InvalidSermosConfig."""
    try:
        return load_config_text(sermos_yaml, check_handlers=False).raw
    except ConfigError as exc:
        raise InvalidSermosConfig(exc.issues) from None


def _config_path(pkg_name: str | None, sermos_yaml_filename: str | None) -> str | None:
    pkg = pkg_name or os.environ.get("PYPELINE_CLIENT_PKG_NAME") or os.environ.get("SERMOS_CLIENT_PKG_NAME")
    if not pkg:
        return None
    pkg = pkg.strip().replace("-", "_")
    try:
        importlib.import_module(pkg)
    except ImportError as exc:
        raise InvalidPackagePath(_issue(f"client package {pkg!r} cannot be imported: {exc}")) from None
    path = packaged_config_path(pkg, sermos_yaml_filename)
    if path is None:
        names = sermos_yaml_filename or os.environ.get("SERMOS_YAML_PATH") or " or ".join(PACKAGED_CONFIG_NAMES)
        raise MissingSermosConfig(_issue(f"package {pkg!r} has no config file {names}"))
    return path


def load_sermos_config(pkg_name: str | None = None, sermos_yaml_filename: str | None = None,
                       as_dict: bool = True) -> dict[str, Any] | str | None:
    """The config shipped in a client package (`SERMOS_CLIENT_PKG_NAME`), as a dict or YAML text; None if unset."""
    path = _config_path(pkg_name, sermos_yaml_filename)
    if path is None:
        log.warning("no client package named (SERMOS_CLIENT_PKG_NAME/PYPELINE_CLIENT_PKG_NAME): no config loaded")
        return None
    try:
        config: PypelineConfig = load_config(path, check_handlers=False)
    except ConfigError as exc:
        raise InvalidSermosConfig(exc.issues) from None
    return config.raw if as_dict else yaml.safe_dump(config.raw)


def load_client_config_and_version(pkg_name: str | None = None,
                                   sermos_yaml_filename: str | None = None) -> tuple[dict[str, Any] | None, str]:
    """(config dict or None, the package's `__version__`); config errors are logged, as in the original."""
    config: Any = None
    version = "0.0.0"
    pkg = pkg_name or os.environ.get("PYPELINE_CLIENT_PKG_NAME") or os.environ.get("SERMOS_CLIENT_PKG_NAME")
    try:
        config = load_sermos_config(pkg, sermos_yaml_filename)
        if pkg:
            version = str(getattr(importlib.import_module(pkg.replace("-", "_")), "__version__", version))
    except ConfigError as exc:
        log.error("could not load the client config: %s", exc)
    return config, version

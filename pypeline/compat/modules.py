"""The original's `module_utils`: import handlers by dotted path, package names, env-var lookups."""
from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

from pypeline.config.handlers import import_handler
from pypeline.errors import InvalidInputError

__all__ = ["SermosModuleLoader", "normalized_pkg_name", "get_client_pkg_name", "match_prefix", "match_suffix",
           "match_prefix_suffix", "find_from_environment"]


class SermosModuleLoader:
    """Load modules and callables from dotted path strings."""

    def get_module(self, resource_dot_path: str) -> ModuleType:
        """The module part of `pkg.module.callable`."""
        return importlib.import_module(resource_dot_path.strip().rsplit(".", 1)[0])

    def get_callable_name(self, resource_dot_path: str) -> str:
        """The last segment of a dotted path."""
        return resource_dot_path.strip().rsplit(".", 1)[-1]

    def get_callable(self, resource_dot_path: str) -> Callable[..., Any]:
        """The object a dotted path names (`pkg.module.callable`)."""
        return import_handler(resource_dot_path.strip())  # type: ignore[no-any-return]


def normalized_pkg_name(pkg_name: str, dashed: bool = False) -> str:
    """`my-pkg` <-> `my_pkg`: dashed for distributions, underscored for imports."""
    return str(pkg_name).replace("_", "-") if dashed else str(pkg_name).replace("-", "_")


def get_client_pkg_name(pkg_name: str | None = None) -> str:
    """`pkg_name`, else `PYPELINE_CLIENT_PKG_NAME`/`SERMOS_CLIENT_PKG_NAME`; an error if none is set."""
    name = pkg_name or os.environ.get("PYPELINE_CLIENT_PKG_NAME") or os.environ.get("SERMOS_CLIENT_PKG_NAME")
    if not name:
        raise InvalidInputError("no client package name: pass one or set PYPELINE_CLIENT_PKG_NAME")
    return name


def match_prefix(string: str, prefix_p: str) -> bool:
    """True if `string` starts with the regex `prefix_p`."""
    return re.match("^(" + prefix_p + ")", string) is not None


def match_suffix(string: str, suffix_p: str) -> bool:
    """True if `string` ends with the regex `suffix_p`."""
    return re.match(".*(" + suffix_p + ")$", string) is not None


def match_prefix_suffix(string: str, prefix_p: str, suffix_p: str) -> bool:
    """True if `string` starts with `prefix_p` and ends with `suffix_p` (regexes)."""
    return match_prefix(string, prefix_p) and match_suffix(string, suffix_p)


def find_from_environment(prefix_p: str, suffix_p: str) -> list[str]:
    """Names of environment variables matching both regexes."""
    return [name for name in os.environ if match_prefix_suffix(name, prefix_p, suffix_p)]

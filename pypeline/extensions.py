"""The original's `pypeline.extensions`: `sermos_config` and `sermos_client_version` of the client package.

Loaded on first access (not at import) from `PYPELINE_CLIENT_PKG_NAME`/`SERMOS_CLIENT_PKG_NAME`; a broken
config is logged and gives None, as in the original.
"""
from __future__ import annotations

import warnings
from functools import cache
from typing import Any

__all__ = ["sermos_config", "sermos_client_version"]

_INSTEAD = {"sermos_config": "pypeline.config.load_config(path).raw",
            "sermos_client_version": "your package's __version__"}


@cache
def _loaded() -> tuple[dict[str, Any] | None, str]:
    from pypeline.compat.sermos_yaml import load_client_config_and_version

    return load_client_config_and_version()


def __getattr__(name: str) -> Any:
    """Serve the original's module globals, loading the client config once."""
    if name not in _INSTEAD:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"{__name__}.{name} is deprecated; use {_INSTEAD[name]}", DeprecationWarning, stacklevel=2)
    config, version = _loaded()
    return config if name == "sermos_config" else version

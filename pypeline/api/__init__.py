"""The JSON face: Flask blueprints under /api/v1 over `pypeline.services` (mounted by `pypeline.webapp`).

`FlaskPypeline`, `FlaskSermos` and `create_app` are served here too, as lazy aliases of `pypeline.webapp`
(the path users and the original's code import them from).
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["create_app", "FlaskPypeline", "FlaskSermos", "API_PREFIX", "AuthCallback", "Principal"]

#: Names served at this path, by the module that defines them.
_ALIASES = {
    "create_app": "pypeline.webapp",
    "FlaskPypeline": "pypeline.webapp",
    "FlaskSermos": "pypeline.webapp",
    "API_PREFIX": "pypeline.http.constants",
    "AuthCallback": "pypeline.http.auth",
    "Principal": "pypeline.http.auth",
}


def __getattr__(name: str) -> Any:
    """Import an aliased name on first use."""
    module = _ALIASES.get(name)
    if module is None:
        raise AttributeError(f"module 'pypeline.api' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

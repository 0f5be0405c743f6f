"""HTTP API: Flask blueprints under /api/v1, an app factory and the FlaskPypeline/FlaskSermos extension.

Names are imported lazily so that `pypeline.api.keys_models` (used by migrations) never needs Flask.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["create_app", "FlaskPypeline", "FlaskSermos", "API_PREFIX", "AuthCallback", "Principal"]

_LAZY = {
    "create_app": "pypeline.api.app",
    "FlaskPypeline": "pypeline.api.extension",
    "FlaskSermos": "pypeline.api.extension",
    "API_PREFIX": "pypeline.api.constants",
    "AuthCallback": "pypeline.api.auth",
    "Principal": "pypeline.api.auth",
}


def __getattr__(name: str) -> Any:
    """Import public names on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pypeline.api' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

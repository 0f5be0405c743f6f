"""Module-level `__getattr__` factories that serve the original's names with a DeprecationWarning."""
from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Moved", "moved_names"]


@dataclass(frozen=True)
class Moved:
    """Where an old name is implemented now (`module:attr`) and what new code should use instead."""

    target: str
    instead: str


def moved_names(module: str, names: Mapping[str, Moved]) -> Callable[[str], Any]:
    """A module `__getattr__` importing each old name from its new home, warning once per access."""

    def __getattr__(name: str) -> Any:
        moved = names.get(name)
        if moved is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(f"{module}.{name} is deprecated; use {moved.instead}", DeprecationWarning, stacklevel=2)
        target_module, _, attr = moved.target.partition(":")
        return getattr(importlib.import_module(target_module), attr)

    return __getattr__

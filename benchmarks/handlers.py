"""Trivial task functions for the engine and scale benchmarks (declared in the generated bench configs)."""
from __future__ import annotations

from typing import Any

__all__ = ["noop"]


def noop(*args: Any, event: dict[str, Any] | None = None) -> int:
    """Do nothing and return 1; accepts a raw-canvas parent result as positional args, or a node `event`."""
    return 1

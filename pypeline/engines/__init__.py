"""Engines: one interface, several ways to orchestrate a pipeline DAG on Celery workers.

The names below are loaded on first access (PEP 562), so importing a light submodule such as
`pypeline.engines.dataflow` does not pull in Celery and the store.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pypeline.engines.base import Engine, EngineRuntime
    from pypeline.engines.eventdriven import EventDrivenEngine

__all__ = ["Engine", "EngineRuntime", "EventDrivenEngine"]

_WHERE = {"Engine": "pypeline.engines.base", "EngineRuntime": "pypeline.engines.base",
          "EventDrivenEngine": "pypeline.engines.eventdriven"}


def __getattr__(name: str) -> Any:
    """Import an exported engine name on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)

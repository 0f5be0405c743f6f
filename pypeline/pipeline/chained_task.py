"""The original's `pypeline.pipeline.chained_task.ChainedTask` (now `pypeline.tasks.chained.ChainedTask`)."""
from __future__ import annotations

from pypeline.deprecation import Moved, moved_names

__all__ = ["ChainedTask"]

_MOVED = {"ChainedTask": Moved("pypeline.tasks.chained:ChainedTask", "pypeline.tasks.chained.ChainedTask")}
__getattr__ = moved_names(__name__, _MOVED)

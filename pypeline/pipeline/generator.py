"""The original's `pypeline.pipeline.generator.PipelineGenerator` (runs now start with `Runtime.start_run`)."""
from __future__ import annotations

from pypeline.deprecation import Moved, moved_names

__all__ = ["PipelineGenerator"]

_MOVED = {"PipelineGenerator": Moved("pypeline.compat.runs:PipelineGenerator", "pypeline.services.invoke.invoke")}
__getattr__ = moved_names(__name__, _MOVED)

"""The original's `pypeline.utils.graph_utils` (pipeline graphs are now `pypeline.dag.PipelineDag`)."""
from __future__ import annotations

from pypeline.deprecation import Moved, moved_names

__all__ = ["get_execution_graph", "find_entry_points", "find_successors", "get_chainable_tasks", "find_all_nodes",
           "find_all_edges"]

_MOVED = {name: Moved(f"pypeline.compat.graph:{name}", "pypeline.dag.PipelineDag") for name in __all__}
__getattr__ = moved_names(__name__, _MOVED)

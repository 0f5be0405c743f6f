"""The original's `pypeline.utils.module_utils` (handlers are now imported by `pypeline.config.handlers`)."""
from __future__ import annotations

from pypeline.deprecation import Moved, moved_names

__all__ = ["SermosModuleLoader", "normalized_pkg_name", "get_client_pkg_name", "match_prefix", "match_suffix",
           "match_prefix_suffix", "find_from_environment"]

_MOVED = {name: Moved(f"pypeline.compat.modules:{name}", "pypeline.config.handlers.import_handler")
          for name in __all__}
__getattr__ = moved_names(__name__, _MOVED)

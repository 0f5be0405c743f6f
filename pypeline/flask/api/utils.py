"""The original's `pypeline.flask.api.utils.chain_helper`."""
from __future__ import annotations

from pypeline.deprecation import Moved, moved_names

__all__ = ["chain_helper"]

_MOVED = {"chain_helper": Moved("pypeline.compat.runs:chain_helper", "pypeline.services.invoke.invoke")}
__getattr__ = moved_names(__name__, _MOVED)

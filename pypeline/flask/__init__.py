"""The original's `pypeline.flask`: `FlaskSermos` (now `pypeline.api.FlaskPypeline`), `Blueprint`, `Api`, `abort`."""
from __future__ import annotations

from pypeline.deprecation import Moved, moved_names

__all__ = ["FlaskSermos", "Blueprint", "Api", "abort"]

_MOVED = {
    "FlaskSermos": Moved("pypeline.webapp:FlaskPypeline", "pypeline.api.FlaskPypeline"),
    "Blueprint": Moved("flask_smorest:Blueprint", "flask_smorest.Blueprint"),
    "Api": Moved("flask_smorest:Api", "flask_smorest.Api"),
    "abort": Moved("flask:abort", "flask.abort"),
}
__getattr__ = moved_names(__name__, _MOVED)

"""The original's `pypeline.flask.decorators`: API-key checks for your own Flask views."""
from __future__ import annotations

from pypeline.deprecation import Moved, moved_names

__all__ = ["require_accesskey", "validate_access_key"]

_MOVED = {
    "require_accesskey": Moved("pypeline.compat.flask_auth:require_accesskey",
                               "pypeline.api.FlaskPypeline(auth=...) or pypeline.http.auth.authenticate"),
    "validate_access_key": Moved("pypeline.compat.flask_auth:validate_access_key",
                                 "pypeline.services.keys.verify_key"),
}
__getattr__ = moved_names(__name__, _MOVED)

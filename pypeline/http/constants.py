"""Names shared by both faces: URL prefixes, extension keys, header names."""
from __future__ import annotations

__all__ = ["API_PREFIX", "EXTENSION_KEY", "API_EXTENSION_KEYS", "ACCESS_KEY_HEADER", "CSRF_HEADER", "UI_PREFIX"]

#: Every API route lives under this prefix (as in the original).
API_PREFIX = "/api/v1"
#: Dashboard URL prefix.
UI_PREFIX = "/ui"
#: `app.extensions[EXTENSION_KEY]` holds the FlaskPypeline instance.
EXTENSION_KEY = "pypeline"
#: Where the flask-smorest Api is also published (the original's and its rename's keys).
API_EXTENSION_KEYS = ("pypeline_core_api", "sermos_core_api")
#: Header carrying the API key (the original's), besides `Authorization: Bearer`.
ACCESS_KEY_HEADER = "accesskey"
#: Header the dashboard sends with writes made under its login session (CSRF protection).
CSRF_HEADER = "X-Pypeline-CSRF"

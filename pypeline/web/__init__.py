"""The dashboard: server-rendered pages (Jinja) with a small static script polling the JSON API."""
from __future__ import annotations

from pypeline.web import config_page as _config_page  # noqa: F401  (registers /ui/config)
from pypeline.web.views import dashboard_blueprint

__all__ = ["dashboard_blueprint"]

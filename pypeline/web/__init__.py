"""The dashboard: server-rendered pages (Jinja) with a small static script polling the JSON API."""
from __future__ import annotations

from pypeline.web.views import dashboard_blueprint

__all__ = ["dashboard_blueprint"]

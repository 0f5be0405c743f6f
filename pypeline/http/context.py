"""Access to the mounted web extension (its runtime and authenticator) from inside a request."""
from __future__ import annotations

from typing import Protocol

from flask import current_app

from pypeline.http.auth import AuthCallback
from pypeline.http.constants import EXTENSION_KEY
from pypeline.runtime import Runtime

__all__ = ["Mounted", "extension", "runtime"]


class Mounted(Protocol):
    """What both faces need from the extension mounted on the app (pypeline.webapp.FlaskPypeline)."""

    @property
    def runtime(self) -> Runtime:
        """The runtime serving requests."""
        ...

    @property
    def max_content_length(self) -> int:
        """Largest request body read, in bytes."""
        ...

    auth: AuthCallback
    #: Where the JSON API is mounted (the dashboard's script calls it there).
    url_prefix: str


def extension() -> Mounted:
    """The extension mounted on the current app."""
    mounted: Mounted = current_app.extensions[EXTENSION_KEY]
    return mounted


def runtime() -> Runtime:
    """The Runtime serving the current app."""
    return extension().runtime

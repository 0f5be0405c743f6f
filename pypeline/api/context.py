"""Access to the mounted extension (runtime, auth) from inside a request."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

from pypeline.api.constants import EXTENSION_KEY
from pypeline.runtime import Runtime

if TYPE_CHECKING:
    from pypeline.api.extension import FlaskPypeline

__all__ = ["extension", "runtime"]


def extension() -> FlaskPypeline:
    """The FlaskPypeline instance mounted on the current app."""
    return current_app.extensions[EXTENSION_KEY]


def runtime() -> Runtime:
    """The Runtime serving the current app."""
    return extension().runtime

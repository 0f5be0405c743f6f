"""A flask-smorest Blueprint with Pypeline's auth, body-size limit and JSON error handlers attached."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from werkzeug.exceptions import HTTPException, UnsupportedMediaType

from pypeline.api.auth import authenticate
from pypeline.api.context import extension
from pypeline.api.errors import handle_http_exception, handle_pypeline_error, handle_unexpected
from pypeline.errors import PypelineError

__all__ = ["ApiBlueprint"]


class ApiBlueprint(Blueprint):
    """An API blueprint: every request is authenticated (unless `public`) and errors are JSON."""

    def __init__(self, name: str, import_name: str, *, public: bool = False, **kwargs: object) -> None:
        super().__init__(name, import_name, **kwargs)  # type: ignore[arg-type]
        self.public = public
        self.before_request(self._before)
        self.register_error_handler(PypelineError, handle_pypeline_error)
        self.register_error_handler(HTTPException, handle_http_exception)
        self.register_error_handler(Exception, handle_unexpected)

    def _before(self) -> None:
        ext = extension()
        try:
            request.max_content_length = ext.max_content_length  # Flask >= 3.1: per-request limit
        except AttributeError:  # older Flask: MAX_CONTENT_LENGTH config applies app-wide
            pass
        if not self.public:
            authenticate(ext.auth)
        if request.content_length and not request.is_json:
            # webargs would silently ignore a non-JSON body; refuse it rather than act on nothing.
            raise UnsupportedMediaType("request bodies must be JSON (Content-Type: application/json)")

"""A flask-smorest Blueprint with Pypeline's auth, body-size limit and JSON error handlers attached."""
from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint
from werkzeug.exceptions import BadRequest, HTTPException, UnsupportedMediaType

from pypeline.api.errors import error_response, handle_http_exception, handle_pypeline_error, handle_unexpected
from pypeline.errors import InvalidInputError, NotFoundError, PypelineError
from pypeline.http.auth import authenticate
from pypeline.http.context import extension
from pypeline.http.input_checks import bad_id, bad_query, parse_strict_json

__all__ = ["ApiBlueprint"]


class ApiBlueprint(Blueprint):
    """An API blueprint: every request is authenticated (unless `public`) and errors are JSON."""

    def __init__(self, name: str, import_name: str, *, public: bool = False, **kwargs: object) -> None:
        super().__init__(name, import_name, **kwargs)  # type: ignore[arg-type]
        self.public = public
        self.before_request(self._before)
        self.after_request(_no_sniff)
        self.register_error_handler(PypelineError, handle_pypeline_error)
        self.register_error_handler(HTTPException, handle_http_exception)
        self.register_error_handler(Exception, handle_unexpected)

    def _before(self) -> Response | None:
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
        return _check_input()


def _no_sniff(response: Response) -> Response:
    """JSON answers are never to be read as HTML or script by a browser."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def _check_input() -> Response | None:
    """Refuse malformed ids (404), query values (422) and JSON bodies (400) before a view or the store sees them."""
    malformed = bad_id(request.view_args)
    if malformed is not None:
        name, reason = malformed
        raise NotFoundError(f"no {name.removesuffix('_id').replace('_', ' ')} with that id ({reason})")
    problems = bad_query(request.args.items(multi=True))
    if problems:
        return error_response(422, "validation_error", "request did not validate; see `errors`",
                              errors={"query": problems})
    if request.is_json and request.get_data(cache=True):
        try:
            parse_strict_json(request.get_data(cache=True))  # webargs then reads the same cached bytes
        except InvalidInputError as exc:
            raise BadRequest(str(exc)) from None
    return None

"""A flask-smorest Blueprint with Pypeline's auth, body-size limit and JSON error handlers attached."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from flask import Response, request
from flask_smorest import Blueprint
from werkzeug.exceptions import BadRequest, HTTPException, UnsupportedMediaType

from pypeline.api.errors import error_response, handle_http_exception, handle_pypeline_error, handle_unexpected
from pypeline.errors import InvalidInputError, NotFoundError, PypelineError
from pypeline.http.auth import authenticate
from pypeline.http.context import extension
from pypeline.http.input_checks import bad_id, bad_query, parse_strict_json

__all__ = ["ApiBlueprint"]

_F = TypeVar("_F", bound=Callable[..., Any])


class ViewDecorator(Protocol):
    """A view decorator: flask-smorest's record the route or OpenAPI data and hand back the view (or a wrapper)."""

    def __call__(self, view: _F, /) -> _F: ...


class ApiBlueprint(Blueprint):  # flask-smorest ships no type information: the base is `Any` to mypy
    """An API blueprint: every request is authenticated (unless `public`) and errors are JSON."""

    def __init__(self, name: str, import_name: str, *, public: bool = False, **kwargs: object) -> None:
        super().__init__(name, import_name, **kwargs)
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

    # flask-smorest's decorators, typed (its package has no annotations, so each would make a view untyped).
    def route(self, rule: str, **options: Any) -> ViewDecorator:
        """Register the decorated view at `rule` (flask-smorest `Blueprint.route`)."""
        return cast(ViewDecorator, super().route(rule, **options))

    def arguments(self, schema: Any, **options: Any) -> ViewDecorator:
        """Parse the request into `schema` and pass it to the view (flask-smorest `Blueprint.arguments`)."""
        return cast(ViewDecorator, super().arguments(schema, **options))

    def response(self, status_code: int, schema: Any = None, **options: Any) -> ViewDecorator:
        """Serialize the view's result with `schema` (flask-smorest `Blueprint.response`)."""
        return cast(ViewDecorator, super().response(status_code, schema, **options))

    def alt_response(self, status_code: int, response: Any = None, **options: Any) -> ViewDecorator:
        """Document another response of the view (flask-smorest `Blueprint.alt_response`)."""
        return cast(ViewDecorator, super().alt_response(status_code, response, **options))

    @staticmethod
    def doc(**options: Any) -> ViewDecorator:
        """Add OpenAPI data to the view's operation (flask-smorest `Blueprint.doc`)."""
        return cast(ViewDecorator, Blueprint.doc(**options))

    def before_request(self, f: _F) -> _F:
        """Run `f` before every request of this blueprint (Flask `Blueprint.before_request`)."""
        return cast(_F, super().before_request(f))


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

"""JSON errors with stable codes: every API error body is {"code", "message", ...}."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from pypeline.errors import PypelineError, StoreUnavailableError
from pypeline.http.constants import API_PREFIX
from pypeline.store.retry import is_transient

__all__ = ["error_response", "handle_pypeline_error", "handle_http_exception", "handle_unexpected",
           "install_routing_handlers", "STATUS_BY_CODE", "CODE_BY_STATUS"]

log = logging.getLogger(__name__)

#: HTTP status of each PypelineError code.
STATUS_BY_CODE: dict[str, int] = {
    "not_found": 404,
    "invalid_input": 400,
    "invalid_transition": 409,
    "conflict": 409,
    "unauthorized": 401,
    "forbidden": 403,
    "timeout": 504,
    "store_error": 503,
    "store_unavailable": 503,
    "invalid_config": 500,
}
#: Stable code of each HTTP status raised by Flask/werkzeug/webargs.
CODE_BY_STATUS: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    417: "expectation_failed",
    422: "validation_error",
    429: "too_many_requests",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
    503: "unavailable",
}


#: Seconds a client should wait before retrying after a 503 (the store was unavailable).
RETRY_AFTER_S = 5
#: What a client is told when the store is down (the driver's message stays in the server log).
STORE_DOWN_MESSAGE = "the run store is unavailable; retry shortly"


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    """A JSON error response."""
    response = jsonify({"code": code, "message": message, **extra})
    response.status_code = status
    response.headers["X-Content-Type-Options"] = "nosniff"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="pypeline"'
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def handle_pypeline_error(exc: PypelineError) -> Response:
    """Map a Pypeline error to its HTTP status; unknown codes are server errors."""
    status = STATUS_BY_CODE.get(exc.code, 500)
    if isinstance(exc, StoreUnavailableError):
        log.error("API request %s %s: %s", request.method, request.path, exc)
        return error_response(503, "store_unavailable", STORE_DOWN_MESSAGE)
    if status >= 500:
        log.error("API request %s %s failed: %s", request.method, request.path, exc, exc_info=exc)
    return error_response(status, exc.code, str(exc))


def handle_http_exception(exc: HTTPException) -> Response:
    """JSON body for werkzeug/webargs HTTP errors (400 invalid JSON, 413, 422 validation, ...)."""
    status = exc.code or 500
    code = CODE_BY_STATUS.get(status, f"http_{status}")
    data = getattr(exc, "data", None) or {}
    extra: dict[str, Any] = {}
    errors = data.get("errors", data.get("messages"))
    if errors is not None:
        extra["errors"] = errors
    message = data.get("message") or _message_for(status, errors, exc)
    response = error_response(status, code, message, **extra)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _message_for(status: int, errors: Any, exc: HTTPException) -> str:
    if status == 422:
        return "request did not validate; see `errors`"
    if status == 400 and errors:
        return "bad request; see `errors`"
    return exc.description or exc.name


def handle_unexpected(exc: Exception) -> Response:
    """Last resort for a bug: log it and answer a JSON 500 without internals."""
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    if isinstance(exc, PypelineError):
        return handle_pypeline_error(exc)
    if is_transient(exc):  # a store call outside the run store's retries (e.g. key lookup) hit an outage
        log.error("API request %s %s: store unavailable: %s", request.method, request.path, exc)
        return error_response(503, "store_unavailable", STORE_DOWN_MESSAGE)
    log.exception("unexpected error in API request %s %s", request.method, request.path)
    return error_response(500, "internal_error", "internal server error")


def _is_api_path() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def install_routing_handlers(app: Flask) -> None:
    """JSON 404/405 for unknown API URLs; other paths keep whatever handler the app had."""
    for exc_class in (NotFound, MethodNotAllowed):
        previous = app.error_handler_spec.get(None, {}).get(exc_class.code, {}).get(exc_class)

        def handler(exc: HTTPException, _previous: Any = previous) -> Any:
            if _is_api_path():
                return handle_http_exception(exc)
            return _previous(exc) if _previous is not None else exc

        app.register_error_handler(exc_class, handler)

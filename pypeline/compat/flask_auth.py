"""The original's `require_accesskey` / `validate_access_key`, checking keys against Pypeline's key store.

Unlike the original's "local mode", a key is always checked; there is no global auth lock.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, has_app_context, request

from pypeline.compat.current import default_runtime
from pypeline.errors import PypelineError
from pypeline.http.auth import required_scope, token_from_request
from pypeline.http.constants import ACCESS_KEY_HEADER, EXTENSION_KEY
from pypeline.runtime import Runtime
from pypeline.services import keys as key_service

__all__ = ["require_accesskey", "validate_access_key"]

F = TypeVar("F", bound=Callable[..., Any])


def _runtime() -> Runtime:
    ext = current_app.extensions.get(EXTENSION_KEY) if has_app_context() else None
    return ext.runtime if ext is not None else default_runtime()


def validate_access_key(access_key: str | None = None, scope: str = "read") -> bool:
    """True if `access_key` is a live key with `scope` (`read` or `write`) in the key store."""
    if not access_key:
        return False
    try:
        key_service.verify_key(_runtime(), access_key, scope)
    except PypelineError:
        return False
    return True


def require_accesskey(fn: F) -> F:
    """Decorate a Flask view: 401 unless the request carries a valid key (`accesskey` header or query, or Bearer).

    GET/HEAD/OPTIONS need a `read` key, other methods a `write` key.
    """

    @wraps(fn)
    def decorated_view(*args: Any, **kwargs: Any) -> Any:
        token = token_from_request(request) or request.args.get(ACCESS_KEY_HEADER)
        if not validate_access_key(token, required_scope(request.method)):
            abort(401)
        return fn(*args, **kwargs)

    return decorated_view  # type: ignore[return-value]

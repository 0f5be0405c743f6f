"""Request authentication: API keys in a header (or the dashboard's login session), or a user callback."""
from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from flask import Request, g, request, session

from pypeline.errors import AuthError, NotFoundError
from pypeline.http.constants import ACCESS_KEY_HEADER, CSRF_HEADER
from pypeline.runtime import Runtime
from pypeline.services import keys as key_service

__all__ = ["Principal", "AuthCallback", "KeyAuth", "authenticate", "required_scope", "token_from_request",
           "login_session", "logout_session", "csrf_token", "SESSION_KEY_ID", "SESSION_CSRF"]

SESSION_KEY_ID = "pypeline_key_id"
SESSION_CSRF = "pypeline_csrf"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """Who made the request and with what scope."""

    name: str
    scope: str
    key_id: str | None = None
    via: str = "key"  # "key", "session" or "callback"


#: A pluggable authenticator: given the request and the scope it needs ("read" or "write"), return a
#: Principal (or True) to allow it, or False/None to answer 401. It may raise AuthError (401) or
#: pypeline.services.keys.ScopeError (403) itself.
AuthCallback = Callable[[Request, str], "Principal | bool | None"]


def required_scope(method: str) -> str:
    """Reads need the `read` scope, everything else `write`."""
    return "read" if method.upper() in _SAFE_METHODS else "write"


def token_from_request(req: Request) -> str | None:
    """The API key from the `accesskey` header or `Authorization: Bearer <key>`."""
    token = req.headers.get(ACCESS_KEY_HEADER)
    if token:
        return token.strip()
    auth = req.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class KeyAuth:
    """Built-in authenticator: API keys from the key store, or the dashboard login session."""

    def __init__(self, runtime_getter: Callable[[], Runtime]) -> None:
        self._runtime = runtime_getter

    def __call__(self, req: Request, scope: str) -> Principal:
        """Authenticate a request or raise AuthError/ScopeError."""
        token = token_from_request(req)
        key_id = session.get(SESSION_KEY_ID)
        if token is not None or not key_id:
            info = key_service.verify_key(self._runtime(), token, scope)  # no token: AuthError "missing API key"
            return Principal(info.name, info.scope, info.id, "key")
        try:
            info = key_service.check_scope(key_service.get_key(self._runtime(), key_id), scope)
        except NotFoundError:
            session.pop(SESSION_KEY_ID, None)
            raise AuthError("dashboard session is no longer valid; log in again") from None
        if req.method.upper() not in _SAFE_METHODS:
            sent = req.headers.get(CSRF_HEADER, "")
            expected = session.get(SESSION_CSRF, "")
            if not expected or not hmac.compare_digest(sent, expected):
                raise AuthError(f"missing or wrong {CSRF_HEADER} header for a write made with the dashboard session")
        return Principal(info.name, info.scope, info.id, "session")


def authenticate(callback: AuthCallback, scope: str | None = None) -> Principal:
    """Run the authenticator for the current request; stores and returns the principal (g.pypeline_principal)."""
    needed = scope or required_scope(request.method)
    outcome = callback(request, needed)
    if outcome is None or outcome is False:
        raise AuthError("not authorised")
    principal = outcome if isinstance(outcome, Principal) else Principal("callback", needed, None, "callback")
    g.pypeline_principal = principal
    return principal


def login_session(key_id: str) -> None:
    """Bind the dashboard session to a verified key and give it a fresh CSRF token."""
    session.clear()
    session[SESSION_KEY_ID] = key_id
    session[SESSION_CSRF] = secrets.token_urlsafe(24)


def logout_session() -> None:
    """Forget the dashboard session."""
    session.pop(SESSION_KEY_ID, None)
    session.pop(SESSION_CSRF, None)


def csrf_token() -> str:
    """The session's CSRF token (created on demand), for the dashboard's pages."""
    token = session.get(SESSION_CSRF)
    if not token:
        token = session[SESSION_CSRF] = secrets.token_urlsafe(24)
    return token

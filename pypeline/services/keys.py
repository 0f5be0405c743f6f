"""API keys: create, list, revoke and verify; only a SHA-256 of each key's secret is stored.

A token is `pyp_<id>_<secret>` where `secret` is 32 random bytes (256 bits, `secrets.token_urlsafe`).
Because the secret is random and high-entropy, a single fast SHA-256 is enough (no password stretching
needed: there is nothing to brute-force); the key is found by its public id and the hashes are compared
in constant time with `hmac.compare_digest`.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update

from pypeline.errors import AuthError, InvalidInputError, NotFoundError
from pypeline.formats import iso_utc
from pypeline.runtime import Runtime
from pypeline.store.models import ApiKey, utcnow

__all__ = ["SCOPES", "KeyInfo", "CreatedKey", "ScopeError", "create_key", "list_keys", "get_key", "revoke_key",
           "verify_key", "check_scope", "hash_secret"]

#: Scopes in increasing power; a key allows its own scope and every weaker one.
SCOPES: tuple[str, ...] = ("read", "write")
_TOKEN_PREFIX = "pyp"
#: Seconds between two writes of `last_used_at` for the same key (avoids a write per request).
LAST_USED_RESOLUTION_S = 60
_TABLE = ApiKey.__table__
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


class ScopeError(AuthError):
    """The key is valid but its scope does not allow the operation."""

    code = "forbidden"


@dataclass(frozen=True)
class KeyInfo:
    """What is known about a key (never its secret)."""

    id: str
    name: str
    scope: str
    created_at: str | None
    last_used_at: str | None
    revoked_at: str | None

    @property
    def active(self) -> bool:
        """True unless revoked."""
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        """True when this key's scope covers `scope`."""
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "name": self.name, "scope": self.scope, "created_at": self.created_at,
                "last_used_at": self.last_used_at, "revoked_at": self.revoked_at, "active": self.active}


@dataclass(frozen=True)
class CreatedKey:
    """A new key: its record and the token, shown once and never stored."""

    info: KeyInfo
    token: str


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of a key secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _info(row: Any) -> KeyInfo:
    return KeyInfo(id=row.id, name=row.name, scope=row.scope, created_at=iso_utc(row.created_at),
                   last_used_at=iso_utc(row.last_used_at), revoked_at=iso_utc(row.revoked_at))


def _check_scope_name(scope: str) -> str:
    if scope not in SCOPES:
        raise InvalidInputError(f"unknown scope {scope!r}; one of {list(SCOPES)}")
    return scope


def create_key(rt: Runtime, name: str, scope: str = "read") -> CreatedKey:
    """Create a key with a name and a scope; the returned token is the only copy of the secret."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInputError("key name must be 1-200 characters")
    _check_scope_name(scope)
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    with rt.store.engine.begin() as conn:
        conn.execute(insert(_TABLE).values(id=key_id, name=name, scope=scope, secret_hash=hash_secret(secret),
                                           created_at=now))
    info = KeyInfo(id=key_id, name=name, scope=scope, created_at=now.isoformat(), last_used_at=None,
                   revoked_at=None)
    return CreatedKey(info=info, token=f"{_TOKEN_PREFIX}_{key_id}_{secret}")


def list_keys(rt: Runtime, *, include_revoked: bool = True) -> list[KeyInfo]:
    """Every key, oldest first."""
    stmt = select(_TABLE).order_by(_TABLE.c.created_at, _TABLE.c.id)
    if not include_revoked:
        stmt = stmt.where(_TABLE.c.revoked_at.is_(None))
    with rt.store.engine.connect() as conn:
        return [_info(r) for r in conn.execute(stmt)]


def get_key(rt: Runtime, key_id: str) -> KeyInfo:
    """One key by id, or NotFoundError."""
    with rt.store.engine.connect() as conn:
        row = conn.execute(select(_TABLE).where(_TABLE.c.id == key_id)).first()
    if row is None:
        raise NotFoundError(f"unknown API key {key_id!r}")
    return _info(row)


def revoke_key(rt: Runtime, key_id: str) -> KeyInfo:
    """Revoke a key at once (idempotent); NotFoundError for an unknown id."""
    with rt.store.engine.begin() as conn:
        conn.execute(update(_TABLE).where(_TABLE.c.id == key_id, _TABLE.c.revoked_at.is_(None))
                     .values(revoked_at=utcnow()))
    return get_key(rt, key_id)


def check_scope(info: KeyInfo, scope: str) -> KeyInfo:
    """Return `info` if it is active and allows `scope`, else raise AuthError/ScopeError."""
    _check_scope_name(scope)
    if not info.active:
        raise AuthError("API key has been revoked")
    if not info.allows(scope):
        raise ScopeError(f"API key {info.id!r} has scope {info.scope!r}; this operation needs {scope!r}")
    return info


def _parse(token: str) -> tuple[str, str] | None:
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != _TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def verify_key(rt: Runtime, token: str | None, scope: str = "read") -> KeyInfo:
    """The key a token belongs to, if it is valid, not revoked and allows `scope`; else AuthError/ScopeError."""
    if not token:
        raise AuthError("missing API key: send it in the `accesskey` header or as `Authorization: Bearer <key>`")
    parsed = _parse(token)
    key_id, secret = parsed if parsed else ("", "")
    row = None
    if parsed and len(key_id) <= 32:
        with rt.store.engine.connect() as conn:
            row = conn.execute(select(_TABLE).where(_TABLE.c.id == key_id)).first()
    # Hash even for unknown ids so timing does not tell known ids from unknown ones.
    ok = hmac.compare_digest(row.secret_hash if row is not None else _DUMMY_HASH, hash_secret(secret))
    if row is None or not ok:
        raise AuthError("invalid API key")
    info = check_scope(_info(row), scope)
    now = utcnow()
    last = row.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite returns naive UTC datetimes
        last = last.replace(tzinfo=now.tzinfo)
    if last is None or now - last > timedelta(seconds=LAST_USED_RESOLUTION_S):
        with rt.store.engine.begin() as conn:
            conn.execute(update(_TABLE).where(_TABLE.c.id == key_id).values(last_used_at=now))
    return info

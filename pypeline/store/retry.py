"""Transient store errors (lost connection, deadlock, serialization failure, locked SQLite) and their retry.

A store operation is one whole transaction, so it is safe to run again from the start on a fresh
connection: SQLAlchemy invalidates a connection (and every older pooled one) when the driver reports a
disconnect, so the next attempt checks out a new one. This is why pooled PostgreSQL connections are not
pinged on every checkout (a round trip per node): a connection that died while idle fails its first
statement, and the operation is simply retried.
"""
from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from sqlalchemy import exc as sa_exc

from pypeline.errors import StoreUnavailableError
from pypeline.settings import Settings

__all__ = ["is_transient", "RetryPolicy", "retry_call", "retrying", "DEFAULT_BUDGET_S"]

log = logging.getLogger(__name__)

#: Seconds a store operation keeps retrying transient errors by default: the `PYPELINE_STORE_RETRY_SECONDS` default.
DEFAULT_BUDGET_S = Settings.store_retry_seconds
#: PostgreSQL SQLSTATEs worth retrying: serialization failure, deadlock, shutdowns, cannot connect now.
_RETRY_SQLSTATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03", "55P03"})
#: SQLSTATE classes worth retrying: connection exceptions, insufficient resources, system errors.
_RETRY_SQLSTATE_CLASSES = ("08", "53", "58")
#: SQLite messages of a busy database (the busy timeout ran out).
_SQLITE_BUSY = ("database is locked", "database table is locked", "database schema is locked")

P = ParamSpec("P")
T = TypeVar("T")


def _sqlstate(orig: BaseException | None) -> str | None:
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state if isinstance(state, str) else None


def is_transient(exc: BaseException) -> bool:
    """True when `exc` is an infrastructure hiccup of the store that a fresh attempt may not meet again."""
    if isinstance(exc, StoreUnavailableError):
        return True
    if isinstance(exc, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True  # stale pooled connection; pool exhausted for a moment
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    state = _sqlstate(orig)
    if state is not None:
        return state in _RETRY_SQLSTATES or state.startswith(_RETRY_SQLSTATE_CLASSES)
    module = type(orig).__module__ if orig is not None else ""
    if module.startswith("sqlite3"):
        text = str(orig).lower()
        return any(msg in text for msg in _SQLITE_BUSY)
    # A driver error without a SQLSTATE: the server never answered (refused, reset, closed connection).
    return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError))


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry a store operation (exponential backoff with full jitter)."""

    budget_s: float = DEFAULT_BUDGET_S
    first_delay_s: float = 0.05
    max_delay_s: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt counts from 1)."""
        cap = min(self.max_delay_s, self.first_delay_s * (2 ** (attempt - 1)))
        return random.uniform(cap / 2, cap)


def retry_call(fn: Callable[[], T], policy: RetryPolicy, what: str) -> T:
    """Run `fn` (one whole transaction), retrying transient errors within the policy's time budget.

    Raises StoreUnavailableError (chained to the last error) when the budget runs out; other errors
    propagate at once.
    """
    deadline = time.monotonic() + policy.budget_s
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc) or isinstance(exc, StoreUnavailableError):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise StoreUnavailableError(
                    f"run store unavailable: {what} failed for {policy.budget_s:g} s "
                    f"({attempt} attempts); last error: {_short(exc)}") from exc
            wait = min(policy.delay(attempt), left)
            log.warning("store %s failed (%s); retrying in %.2fs", what, _short(exc), wait)
            time.sleep(wait)


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return f"{type(orig if orig is not None else exc).__name__}: {text[0] if text else ''}"


_local = threading.local()


def retrying(method: Callable[P, T]) -> Callable[P, T]:
    """Decorate a store method (one whole transaction) to retry transient errors with the store's policy.

    Nested calls do not multiply the budget: only the outermost retrying method retries.
    """

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        if getattr(_local, "active", False):
            return method(*args, **kwargs)
        policy: RetryPolicy = getattr(args[0], "retry_policy", RetryPolicy())

        def once() -> T:
            _local.active = True
            try:
                return method(*args, **kwargs)
            finally:
                _local.active = False

        return retry_call(once, policy, method.__name__)

    return wrapper

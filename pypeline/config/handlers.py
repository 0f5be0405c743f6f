"""Import dotted handler paths and check that they can be called the way Pypeline will call them."""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["import_handler", "accepts_event", "accepts_no_args", "handler_problem"]


def import_handler(path: str) -> Any:
    """Import `package.module.attr` (nested attributes like `module.Class.method` allowed) and return it.

    Raises whatever the import raises (ModuleNotFoundError, AttributeError, or the user module's own error).
    """
    parts = path.split(".")
    missing: ModuleNotFoundError | None = None
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # fall back to a shorter module only when this very module (or a parent package) is missing;
            # a missing import *inside* the user's module is the real error
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                missing = missing or exc
                continue
            raise
        for depth, attr in enumerate(parts[cut:]):
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                if depth == 0 and missing is not None:
                    raise missing from None
                raise
        return obj
    assert missing is not None  # a dotted path has at least one module candidate
    raise missing


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no introspectable signature: trust them
        return None


def _binds(sig: inspect.Signature | None, **kwargs: Any) -> bool:
    if sig is None:
        return True
    try:
        sig.bind(**kwargs)
    except TypeError:
        return False
    return True


def accepts_event(fn: Callable[..., Any]) -> bool:
    """True when `fn(event=...)` is a valid call (a parameter named `event`, or `**kwargs`)."""
    return _binds(_signature(fn), event=None)


def accepts_no_args(fn: Callable[..., Any]) -> bool:
    """True when `fn()` is a valid call."""
    return _binds(_signature(fn))


def _has_event_param(sig: inspect.Signature) -> bool:
    for param in sig.parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            return True
        if param.name == "event" and param.kind is not inspect.Parameter.POSITIONAL_ONLY:
            return True
    return False


def handler_problem(path: str, *, needs_event: bool) -> str | None:
    """Why the handler at `path` is unusable, or None when it is fine.

    Pipeline nodes (`needs_event`) are called as `fn(event=...)`; scheduled and registered tasks may also
    take no parameters at all. Exceptions raised while importing user code are turned into the message.
    """
    try:
        obj = import_handler(path)
    except (Exception, SystemExit) as exc:
        return f"handler '{path}' could not be imported: {type(exc).__name__}: {exc}"
    if not callable(obj):
        return f"handler '{path}' is not callable (it is {type(obj).__name__})"
    sig = _signature(obj)
    if sig is None or _binds(sig, event=None):
        return None
    if not needs_event and _binds(sig):
        return None
    if not _has_event_param(sig):
        if needs_event:
            return f"handler '{path}' does not accept an 'event' argument (signature: {sig})"
        return f"handler '{path}' must accept an 'event' argument or no arguments at all (signature: {sig})"
    required = [
        p.name for p in sig.parameters.values()
        if p.default is inspect.Parameter.empty and p.name != "event"
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    return f"handler '{path}' requires arguments other than 'event': {', '.join(required)} (signature: {sig})"

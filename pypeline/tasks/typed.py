"""Typed payloads: a handler that annotates `event` with a pydantic model or a dataclass receives one.

The event dict is validated and converted on entry with a pydantic `TypeAdapter`; a mismatch raises
NodeExecutionError naming every bad field, which fails the node without a retry (the same input would
fail again).
"""
from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from typing_extensions import is_typeddict  # knows typing and typing_extensions TypedDicts

from pypeline.errors import NodeExecutionError

if TYPE_CHECKING:  # pydantic is imported on first typed handler: most processes never need it
    from pydantic import TypeAdapter, ValidationError

__all__ = ["event_type", "convert_event", "describe_validation_error"]


def _is_typed(annotation: Any) -> bool:
    if isinstance(annotation, type):
        if dataclasses.is_dataclass(annotation):
            return True
        pydantic = sys.modules.get("pydantic")  # not imported yet: no annotation can be one of its models
        if pydantic is not None and issubclass(annotation, pydantic.BaseModel):
            return True
        return is_typeddict(annotation)
    return False


def event_type(fn: Callable[..., Any]) -> Any | None:
    """The model or dataclass a handler's `event` parameter is annotated with, or None for plain dicts."""
    try:
        annotation = typing.get_type_hints(fn).get("event")
    except Exception:  # noqa: BLE001 - unresolvable forward references: fall back to the raw annotation
        try:
            param = inspect.signature(fn).parameters.get("event")
        except (TypeError, ValueError):
            return None
        annotation = None if param is None or param.annotation is inspect.Parameter.empty else param.annotation
    return annotation if _is_typed(annotation) else None


@lru_cache(maxsize=1024)
def _adapter(fn: Callable[..., Any]) -> TypeAdapter[Any] | None:
    kind = event_type(fn)
    return None if kind is None else _new_adapter(kind)


def _new_adapter(kind: Any) -> TypeAdapter[Any]:
    from pydantic import TypeAdapter

    return TypeAdapter(kind)


def describe_validation_error(exc: ValidationError, kind: Any) -> str:
    """One line naming every field that did not validate, e.g. `chain_payload.count: Input should be ...`."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "<event>"
        parts.append(f"{where}: {err['msg']}" + (f" (got {err['input']!r})" if err["type"] != "missing" else ""))
    name = getattr(kind, "__name__", str(kind))
    return f"event does not match {name}: " + "; ".join(parts)


def convert_event(fn: Callable[..., Any], event: Any) -> Any:
    """`event` converted to the handler's annotated type (unchanged when the handler takes a plain dict)."""
    try:
        # a callable object may define __eq__ without __hash__ (unhashable: no cache for it)
        if getattr(type(fn), "__hash__", None) is not None:
            adapter = _adapter(fn)
        else:
            kind = event_type(fn)
            adapter = None if kind is None else _new_adapter(kind)
        return event if adapter is None else adapter.validate_python(event)
    except Exception as exc:
        from pydantic import ValidationError
        from pydantic.errors import PydanticUserError

        if isinstance(exc, ValidationError):
            raise NodeExecutionError(describe_validation_error(exc, event_type(fn))) from None
        if isinstance(exc, PydanticUserError):  # an annotation pydantic cannot use (typing.TypedDict before 3.12)
            raise NodeExecutionError(f"cannot validate events as {event_type(fn)!r}: {exc}") from exc
        raise

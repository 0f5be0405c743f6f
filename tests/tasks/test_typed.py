"""Typed payloads: events converted to the annotated model, dataclass or TypedDict; clear errors otherwise."""
from __future__ import annotations

import sys
import typing
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from pypeline.errors import NodeExecutionError
from pypeline.tasks.chained import call_handler
from pypeline.tasks.typed import convert_event, event_type


class Payload(BaseModel):
    """Payload model."""

    count: int


class Event(BaseModel):
    """Event model."""

    node: str
    chain_payload: Payload


@dataclass
class DcEvent:
    """Event dataclass."""

    node: str
    attempt: int = 1


class TdEvent(TypedDict):
    """Event TypedDict."""

    node: str


def model_handler(event: Event) -> int:
    """Typed with a model."""
    return event.chain_payload.count


def dc_handler(event: DcEvent) -> str:
    """Typed with a dataclass."""
    return f"{event.node}/{event.attempt}"


def td_handler(event: TdEvent) -> str:
    """Typed with a TypedDict."""
    return event["node"]


def plain(event: dict[str, Any]) -> dict[str, Any]:
    """Untyped."""
    return event


async def async_model(event: Event) -> int:
    """Async and typed."""
    return event.chain_payload.count * 2


EVENT = {"node": "n", "chain_payload": {"count": "3"}, "upstream": {}, "attempt": 2}


def test_annotation_kinds() -> None:
    assert event_type(model_handler) is Event and event_type(dc_handler) is DcEvent
    assert event_type(td_handler) is TdEvent
    assert event_type(plain) is None and event_type(lambda event: event) is None


def test_events_are_converted_on_entry() -> None:
    assert call_handler(model_handler, EVENT) == 3  # "3" coerced to int, extra keys ignored
    assert call_handler(dc_handler, EVENT) == "n/2"
    assert call_handler(td_handler, EVENT) == "n"
    assert call_handler(async_model, EVENT) == 6
    assert convert_event(plain, EVENT) is EVENT


class OldTd(typing.TypedDict):
    """typing.TypedDict: pydantic needs typing_extensions' before Python 3.12."""

    node: str


def old_td_handler(event: OldTd) -> str:
    """Typed with a typing.TypedDict."""
    return event["node"]


def test_an_unusable_annotation_fails_the_node_clearly() -> None:
    if sys.version_info >= (3, 12):
        assert call_handler(old_td_handler, EVENT) == "n"
    else:
        with pytest.raises(NodeExecutionError, match="cannot validate events as"):
            call_handler(old_td_handler, EVENT)


def test_a_mismatch_names_every_bad_field() -> None:
    with pytest.raises(NodeExecutionError) as err:
        call_handler(model_handler, {"chain_payload": {"count": "many"}})
    message = str(err.value)
    assert message.startswith("event does not match Event: ")
    assert "node: Field required" in message
    assert "chain_payload.count: Input should be a valid integer" in message and "(got 'many')" in message



class UnhashableHandler:
    """A callable object that defines __eq__ without __hash__: it cannot key the adapter cache."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnhashableHandler)

    def __call__(self, event: dict[str, Any]) -> str:
        return str(event["node"])


def test_an_unhashable_handler_is_called_without_the_cache() -> None:
    handler = UnhashableHandler()
    with pytest.raises(TypeError):
        hash(handler)
    assert convert_event(handler, EVENT) is EVENT
    assert call_handler(handler, EVENT) == "n"

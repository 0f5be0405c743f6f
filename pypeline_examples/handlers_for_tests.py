"""Importable handlers used by the config tests (good ones, and deliberately unusable ones)."""
from __future__ import annotations

from typing import Any


def fetch(event: dict[str, Any]) -> dict[str, Any]:
    """Pipeline node: pretend to fetch."""
    return {"fetched": True, **(event or {})}


def transform(event: dict[str, Any]) -> dict[str, Any]:
    """Pipeline node: pretend to transform."""
    return {"transformed": True}


def load(event: dict[str, Any], **kwargs: Any) -> None:
    """Pipeline node: pretend to load."""


def nightly_report() -> str:
    """Scheduled task with no parameters at all (seen in user configs, sermos-compat §15)."""
    return "report"


def any_kwargs(**kwargs: Any) -> dict[str, Any]:
    """Accepts `event` through **kwargs."""
    return kwargs


def no_event(payload: dict[str, Any]) -> None:
    """Unusable as a node: takes `payload`, not `event`."""


def needs_more(event: dict[str, Any], extra: str) -> None:
    """Unusable as a node: requires an argument besides `event`."""


class Tasks:
    """Handlers reachable as nested attributes (`module.Tasks.run`)."""

    @staticmethod
    def run(event: dict[str, Any]) -> str:
        """Static method node handler."""
        return "ran"


NOT_CALLABLE = 42

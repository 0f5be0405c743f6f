"""The state one validation pass shares across sections: the reporter and the handler uses to import at the end."""
from __future__ import annotations

from typing import Any

from pypeline.config import codes
from pypeline.config.codes import ErrorCode
from pypeline.config.fields import Reporter
from pypeline.config.handlers import handler_problem
from pypeline.config.yaml_source import SourceMap, join_path

__all__ = ["ValidatorBase"]


class ValidatorBase:
    """Reporter and handler bookkeeping of one validation pass over a whole file."""

    def __init__(self, source: SourceMap) -> None:
        self.rep = Reporter(source)
        #: (path, handler, needs_event) for every handler use whose path has the right format
        self.handler_uses: list[tuple[str, str, bool]] = []
        #: (key path, dotted path) of each `notify.handler`, imported with the other handlers.
        self.notify_handlers: list[tuple[str, str]] = []

    def error(
        self, path: str, message: str, *, code: ErrorCode, key: bool = False, suggestion: str | None = None
    ) -> None:
        """Record an issue with its stable code."""
        self.rep.error(path, message, code=code, key=key, suggestion=suggestion)

    def _schema_version(self, entry: dict[str, Any], path: str) -> None:
        version = entry.get("schemaVersion", 1)
        if version != 1:
            self.error(join_path(path, "schemaVersion"), f"unsupported schemaVersion {version}; only 1 exists",
                       code=codes.SCHEMA_VERSION)

    def _check_handlers(self) -> None:
        """Import every handler once per (path, mode); report each distinct problem once, at its first use."""
        problems: dict[tuple[str, bool], str | None] = {}
        reported: set[str] = set()
        for path, handler, needs_event in self.handler_uses:
            cache_key = (handler, needs_event)
            if cache_key not in problems:
                problems[cache_key] = handler_problem(handler, needs_event=needs_event)
            problem = problems[cache_key]
            if problem is not None and problem not in reported:
                reported.add(problem)
                self.error(path, problem, code=codes.HANDLER)

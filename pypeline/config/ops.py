"""Operational pipeline metadata: `maxActiveRuns`/`onLimit` (concurrency) and `notify` (run notifications)."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from pypeline.config import codes
from pypeline.config.handlers import import_handler
from pypeline.config.schema import NOTIFY, Reporter, check_mapping
from pypeline.config.yaml_source import join_path

__all__ = ["NOTIFY", "NOTIFY_EVENTS", "ON_LIMIT", "NotifyConfig", "check_notify", "notify_handler_problem"]

#: Run statuses a `notify.on` list may name (lower case in config), mapped to run statuses.
NOTIFY_EVENTS = {"failed": "FAILED", "succeeded": "SUCCESS", "cancelled": "CANCELLED", "timed_out": "TIMED_OUT"}
#: What an invocation beyond `maxActiveRuns` does.
ON_LIMIT = ("queue", "skip", "fail")



@dataclass(frozen=True)
class NotifyConfig:
    """Where and when a pipeline's finished runs are announced."""

    #: Run statuses that trigger a notification (FAILED, SUCCESS, CANCELLED, TIMED_OUT).
    on: tuple[str, ...]
    webhook: str | None = None
    #: Name of the environment variable holding the HMAC secret of the webhook.
    secret_env: str | None = None
    handler: str | None = None
    retries: int = 5
    timeout: float = 10.0
    #: Seconds before the first retry of a failed delivery; doubled on each further retry (capped at 10 min).
    backoff: float = 2.0

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return min(self.backoff * 2.0 ** (attempt - 1), 600.0)


def check_notify(raw: Any, path: str, rep: Reporter) -> NotifyConfig | None:
    """Validate a `notify` mapping; issues go to `rep`, None when it is invalid or absent."""
    if raw is None:
        return None
    if isinstance(raw, dict) and True in raw and "on" not in raw:
        # YAML 1.1 reads a bare `on:` key as the boolean true.
        raw = {("on" if key is True else key): value for key, value in raw.items()}
    entry = check_mapping(raw, NOTIFY, path, rep)
    if entry is None:
        return None
    ok = True
    events = entry.get("on", ["failed"])
    events = [events] if isinstance(events, str) else list(events)
    for event in events:
        if event not in NOTIFY_EVENTS:
            rep.error(join_path(path, "on"), f"unknown notify event {event!r}; one of {sorted(NOTIFY_EVENTS)}",
                      code=codes.INVALID_CHOICE)
            ok = False
    if "webhook" not in raw and "handler" not in raw:
        rep.error(path, "notify needs a 'webhook' URL and/or a 'handler'", code=codes.MISSING_KEY)
        ok = False
    if "secretEnv" in raw and "webhook" not in raw:
        rep.error(join_path(path, "secretEnv"), "'secretEnv' signs webhook bodies; it needs a 'webhook'",
                  code=codes.MISSING_KEY)
        ok = False
    ok = ok and set(entry) >= {k for k in raw if k in NOTIFY.fields}  # a value failed its own check
    return _build(entry, events) if ok else None


def _build(entry: dict[str, Any], events: list[str]) -> NotifyConfig:
    return NotifyConfig(on=tuple(NOTIFY_EVENTS[e] for e in events), webhook=entry.get("webhook"),
                        secret_env=entry.get("secretEnv"), handler=entry.get("handler"),
                        retries=int(entry.get("retries", 5)), timeout=float(entry.get("timeout", 10)),
                        backoff=float(entry.get("backoff", 2)))


def notify_handler_problem(path: str) -> str | None:
    """Why the `notify.handler` at `path` cannot be called as `handler(run_record)`, or None."""
    try:
        obj = import_handler(path)
    except (Exception, SystemExit) as exc:
        return f"notify handler '{path}' could not be imported: {type(exc).__name__}: {exc}"
    if not callable(obj):
        return f"notify handler '{path}' is not callable (it is {type(obj).__name__})"
    try:
        inspect.signature(obj).bind({})
    except TypeError:
        return f"notify handler '{path}' must accept one argument, the run record"
    except ValueError:  # no signature available (some builtins): let the call decide
        return None
    return None

"""The one exception root of Pypeline and its families."""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "PypelineError",
    "ConfigIssue",
    "ConfigError",
    "NotFoundError",
    "AlreadyExistsError",
    "InvalidInputError",
    "InvalidTransitionError",
    "StoreError",
    "StoreUnavailableError",
    "NodeExecutionError",
    "NodeResultError",
    "RunTimeoutError",
    "AuthError",
    "AccessDeniedError",
    "SourceError",
    "ConcurrencyLimitError",
]


class PypelineError(Exception):
    """Root of every error Pypeline raises on purpose."""

    #: Stable machine-readable code, used by the API's JSON errors.
    code: str = "pypeline_error"


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in a config file, with where it is and what was expected."""

    message: str
    path: str = ""  # dotted key path, e.g. "pipelines.demo.config.dagAdjacency.a"
    file: str = "<string>"
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    code: str = "PYP000"  # stable error code, see pypeline.config.codes and docs/config-errors.md
    suggestion: str | None = None  # the likely intended value or key, when one is close

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = f" [{self.path}]" if self.path else ""
        return f"{where}:{key} {self.message}"


@dataclass
class ConfigError(PypelineError):
    """A config file is invalid; carries every issue found in one pass."""

    issues: list[ConfigIssue] = field(default_factory=list)
    code = "invalid_config"

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.issues)
        head = f"{n} error{'s' if n != 1 else ''} in config"
        return head + ":\n" + "\n".join(f"  {i}" for i in self.issues)


class NotFoundError(PypelineError, LookupError):
    """A named pipeline, run, schedule, batch or key does not exist."""

    code = "not_found"


class InvalidInputError(PypelineError, ValueError):
    """Input from a user (payload, schedule, key, argument) is invalid; nothing was changed."""

    code = "invalid_input"


class AlreadyExistsError(InvalidInputError):
    """An id or a unique name is already taken (HTTP 409)."""

    code = "conflict"


class InvalidTransitionError(PypelineError):
    """A status change not allowed by the run/node state machine."""

    code = "invalid_transition"


class StoreError(PypelineError):
    """The run store could not be reached or refused an operation."""

    code = "store_error"


class NodeExecutionError(PypelineError):
    """A node's handler failed in a way Pypeline itself detected (bad payload, bad result)."""

    code = "node_error"
    #: Whether the node's retry policy applies (a bad input would fail the same way again: no retry).
    retryable: bool = False
    #: The node's recorded retry count this failure is the outcome of (a sub-pipeline node's child generation):
    #: the retry budget counts from it, not from the message, and the retry is recorded only while the node is
    #: still at it. None: the message's own retry count applies.
    generation: int | None = None


class NodeResultError(NodeExecutionError):
    """A handler returned a result the store cannot keep (not strict JSON, too large); retried by policy."""

    retryable = True


class RunTimeoutError(PypelineError, TimeoutError):
    """Waiting for a run to finish took longer than allowed."""

    code = "timeout"


class AuthError(PypelineError):
    """Missing, unknown or insufficient API credentials."""

    code = "unauthorized"


class AccessDeniedError(PypelineError, PermissionError):
    """A key source refused to be listed (S3 AccessDenied, bad credentials, unreadable directory)."""

    code = "access_denied"


class SourceError(PypelineError):
    """A key source could not be listed for another reason (endpoint unreachable, unexpected S3 error)."""

    code = "source_error"


class StoreUnavailableError(StoreError):
    """The run store stayed unreachable (or deadlocked) for longer than its retry budget; try again later."""

    code = "store_unavailable"
class ConcurrencyLimitError(PypelineError):
    """A pipeline already has `maxActiveRuns` active runs and its `onLimit` is `fail`."""

    code = "conflict"

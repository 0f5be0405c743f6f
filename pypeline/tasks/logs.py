"""Per-node log capture: what a handler logs or prints while it runs is kept with its node attempt.

`sys.stdout`/`sys.stderr` are wrapped once by a proxy and a handler is added to the root logger; both
route output through a context variable to the capture of the node running *in this thread* (so several
nodes in one threads-pool process never mix their output), and otherwise pass everything through
unchanged. Output is bounded (the rest is dropped with a marker) and flushed to the store about once a
second while the node runs, so it can be followed live.
"""
from __future__ import annotations

import io
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

from pypeline.store.node_logs import append_log

__all__ = ["LogCapture", "capture", "node_capture", "TRUNCATION_MARK"]

log = logging.getLogger(__name__)

#: Appended once when a node's output exceeds its limit (format: limit in bytes).
TRUNCATION_MARK = "\n[pypeline: log truncated at {limit} bytes]\n"

_current: ContextVar[LogCapture | None] = ContextVar("pypeline_node_log", default=None)
#: Set while a captured write is passed on to the real stream (which may itself log: not captured twice).
_passing: ContextVar[bool] = ContextVar("pypeline_node_log_passing", default=False)
_install_lock = threading.Lock()


class LogCapture:
    """The bounded output of one node attempt, handed to `sink` in chunks."""

    def __init__(self, sink: Callable[[str], None], limit: int, flush_every: float = 1.0) -> None:
        self.sink, self.limit, self.flush_every = sink, limit, flush_every
        self.size = 0
        self.truncated = False
        self._parts: list[str] = []
        self._last_flush = time.monotonic()

    def write(self, text: str) -> None:
        """Keep `text` (up to the byte limit), flushing to the sink when a second has passed."""
        if self.truncated or not text:
            return
        data = text.encode("utf-8", "replace")
        if self.size + len(data) > self.limit:
            keep = data[: max(self.limit - self.size, 0)].decode("utf-8", "ignore")
            self._parts.append(keep + TRUNCATION_MARK.format(limit=self.limit))
            self.size = self.limit
            self.truncated = True
        else:
            self._parts.append(text)
            self.size += len(data)
        if time.monotonic() - self._last_flush >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Hand what was kept since the last flush to the sink."""
        self._last_flush = time.monotonic()
        if not self._parts:
            return
        text, self._parts = "".join(self._parts), []
        token = _passing.set(True)  # the sink's own logging (e.g. a database error) is not node output
        try:
            self.sink(text)
        except Exception:  # noqa: BLE001 - losing a log chunk must never fail the node
            log.warning("could not store captured node output", exc_info=True)
        finally:
            _passing.reset(token)


class _StreamProxy(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr: copies writes to the current node's capture, passes them on."""

    def __init__(self, original: TextIO) -> None:
        super().__init__()
        self.original = original

    def write(self, text: str) -> int:
        """Copy to the current node's capture (if any), then write to the real stream."""
        capture_ = _current.get()
        if capture_ is not None and not _passing.get():
            capture_.write(text)
        token = _passing.set(True)
        try:
            return self.original.write(text)
        finally:
            _passing.reset(token)

    def flush(self) -> None:
        """Flush the real stream."""
        self.original.flush()

    def isatty(self) -> bool:
        """Whether the real stream is a terminal."""
        return self.original.isatty()

    def fileno(self) -> int:
        """The real stream's file descriptor."""
        return self.original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """The real stream's encoding."""
        return getattr(self.original, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


class _CaptureHandler(logging.Handler):
    """Root-logger handler writing records to the current node's capture."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write the formatted record to the current node's capture, if any."""
        capture_ = _current.get()
        if capture_ is None or _passing.get():
            return
        try:
            capture_.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never raise into the handler
            self.handleError(record)


_handler = _CaptureHandler()
_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))


def _install() -> None:
    """Wrap the current stdout/stderr (Celery may have replaced them since) and add the log handler, once."""
    root = logging.getLogger()
    if isinstance(sys.stdout, _StreamProxy) and isinstance(sys.stderr, _StreamProxy) and _handler in root.handlers:
        return
    with _install_lock:
        if not isinstance(sys.stdout, _StreamProxy):
            sys.stdout = _StreamProxy(sys.stdout)
        if not isinstance(sys.stderr, _StreamProxy):
            sys.stderr = _StreamProxy(sys.stderr)
        if _handler not in root.handlers:
            root.addHandler(_handler)


@contextmanager
def capture(sink: Callable[[str], None], limit: int, flush_every: float = 1.0) -> Iterator[LogCapture | None]:
    """Capture this thread's output into `sink` for the block (limit <= 0: capture nothing)."""
    if limit <= 0:
        yield None
        return
    _install()
    capture_ = LogCapture(sink, limit, flush_every)
    token = _current.set(capture_)
    try:
        yield capture_
    finally:
        _current.reset(token)
        capture_.flush()


def node_capture(rt: Any, run_id: str, node: str, instance: str, attempt: int) -> Any:
    """The capture of one node attempt into the run store (bounded by `PYPELINE_NODE_LOG_BYTES`)."""
    engine = rt.store.engine
    return capture(lambda text: append_log(engine, run_id, node, instance, attempt, text), rt.settings.node_log_bytes)

"""gunicorn's own error pages (414, 431, 400 bad request line, ...) in the API's JSON `{code, message}` shape."""
from __future__ import annotations

import json
import socket
from typing import Any

from pypeline.api.errors import CODE_BY_STATUS

__all__ = ["json_error_bytes", "write_json_error", "install_json_errors"]


def json_error_bytes(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 error response whose body is the API's JSON error document."""
    body = json.dumps({"code": CODE_BY_STATUS.get(status, f"http_{status}"),
                       "message": message or reason}).encode("utf-8")
    # the reason phrase comes from gunicorn's fixed table; latin-1 keeps the status line a valid header
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"X-Content-Type-Options: nosniff\r\nContent-Length: {len(body)}\r\n\r\n").encode("latin-1", "replace")
    return head + body


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for `gunicorn.util.write_error` that answers JSON instead of HTML."""
    from gunicorn import util

    util.write_nonblock(sock, json_error_bytes(status_int, reason, mesg))


def install_json_errors(worker: Any = None) -> None:
    """Make gunicorn write its own errors as JSON in this process (usable as a `post_worker_init` hook)."""
    from gunicorn import util

    util.write_error = write_json_error  # workers call it as `util.write_error`, so the module attribute is enough

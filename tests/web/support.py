"""Dashboard test support: serve an ApiStack's app over real HTTP in a thread."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug.serving import make_server

from tests.api.support import ApiStack

__all__ = ["serve"]


@contextmanager
def serve(stack: ApiStack) -> Iterator[str]:
    """Serve the stack's app with werkzeug's threaded server on 127.0.0.1:<free port>; yields the base URL."""
    server = make_server("127.0.0.1", 0, stack.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="dashboard-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)

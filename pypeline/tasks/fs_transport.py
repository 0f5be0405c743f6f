"""kombu's filesystem transport with atomic message writes, for the embedded broker.

kombu's own `_put` creates the message file and then writes it, while `_get` lists and moves files
without taking the writer's lock: a consumer polling at the wrong moment reads an empty file and the
worker dies on a JSONDecodeError. Here a message is written to a hidden temporary name (which `_get`
never matches) and renamed into place, so a reader only ever sees complete messages.

Celery's blocking consumer loop drains with a 2 s timeout and runs one more cycle after a stop
request, so stopping a worker on a polling transport took 2–4 s; `Transport.drain_events` returns as
soon as the worker in this process is asked to stop.
"""
from __future__ import annotations

import os
import uuid
from queue import Empty
from time import monotonic, sleep
from typing import Any

from celery.worker import state as worker_state
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps

__all__ = ["Channel", "Transport", "TRANSPORT"]

#: Value for Celery's `broker_transport` setting.
TRANSPORT = "pypeline.tasks.fs_transport:Transport"


class Channel(filesystem.Channel):
    """Filesystem channel whose messages appear atomically."""

    # kombu's filesystem Channel names the second parameter `payload`, its AbstractChannel `message`: no
    # signature matches both bases.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Write `payload` for `queue` under a temporary name, then rename it to its message name."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        tmp = os.path.join(self.data_folder_out, f".tmp-{uuid.uuid4().hex}")
        try:
            with open(tmp, "wb") as fh:
                fh.write(dumps(payload).encode("utf-8"))
            os.replace(tmp, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    """kombu filesystem transport using the atomic channel."""

    Channel = Channel

    def drain_events(self, connection: Any, timeout: float | None = None, **kwargs: Any) -> None:
        """Deliver one message; raise socket.timeout after `timeout` s or once this process's worker is stopping."""
        if self.cycle is None:  # set when the connection's first channel is created
            raise ChannelError("filesystem transport has no channel to drain")
        started = monotonic()
        interval = self.polling_interval
        if timeout and interval and interval > timeout:
            interval = timeout
        while True:
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                if _stopping() or (timeout is not None and monotonic() - started >= timeout):
                    raise TimeoutError() from None
                if interval is not None:
                    sleep(interval)


def _stopping() -> bool:
    """True when a worker in this process was asked to shut down (warm or cold)."""
    # Identity checks, as in celery.worker.state.maybe_shutdown: 0 is a valid exit code, not "unset".
    return any(flag is not None and flag is not False for flag in (worker_state.should_stop,
                                                                  worker_state.should_terminate))

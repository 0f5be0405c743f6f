"""kombu's filesystem transport with atomic message writes, for the embedded broker.

kombu's own `_put` creates the message file and then writes it, while `_get` lists and moves files
without taking the writer's lock: a consumer polling at the wrong moment reads an empty file and the
worker dies on a JSONDecodeError. Here a message is written to a hidden temporary name (which `_get`
never matches) and renamed into place, so a reader only ever sees complete messages.
"""
from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

__all__ = ["Channel", "Transport", "TRANSPORT"]

#: Value for Celery's `broker_transport` setting.
TRANSPORT = "pypeline.tasks.fs_transport:Transport"


class Channel(filesystem.Channel):
    """Filesystem channel whose messages appear atomically."""

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        """Write `payload` for `queue` under a temporary name, then rename it to its message name."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        tmp = os.path.join(self.data_folder_out, f".tmp-{uuid.uuid4().hex}")
        try:
            with open(tmp, "wb") as fh:
                fh.write(str_to_bytes(dumps(payload)))
            os.replace(tmp, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    """kombu filesystem transport using the atomic channel."""

    Channel = Channel

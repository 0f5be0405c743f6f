"""How many messages wait in a broker queue (kombu passive declare: Redis, RabbitMQ, the embedded transport)."""
from __future__ import annotations

import logging

from celery import Celery
from kombu.exceptions import ChannelError, OperationalError

__all__ = ["queue_depth"]

log = logging.getLogger(__name__)


def queue_depth(app: Celery, queue: str) -> int | None:
    """Messages ready in `queue` (0 when the broker does not know it); None when the broker cannot tell now."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.channel()  # a failed passive declare closes the channel on AMQP: never reuse it
            try:
                return int(channel.queue_declare(queue=queue, passive=True).message_count)
            except ChannelError as exc:
                if "NOT_FOUND" in str(exc) or getattr(exc, "code", None) == 404 or "404" in str(exc):
                    return 0  # Redis drops empty lists, RabbitMQ queues may not exist yet: nothing waits
                raise
            finally:
                try:
                    channel.close()
                except Exception:  # noqa: BLE001 - a channel closed by the broker is fine
                    pass
    except (ChannelError, OperationalError, OSError) as exc:
        log.warning("reconciler: could not read the depth of queue %r: %s", queue, exc)
        return None

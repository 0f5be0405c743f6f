"""The built-in `pypeline.notify_run` task: deliver a finished run's notification (webhook and/or handler).

Workers import this module through the Celery app's `imports` setting (set by the Runtime). Delivery runs
in its own task, never in the worker thread of the node that finished the run; a failed delivery is
retried with exponential backoff by re-sending the task with a countdown, and every attempt is recorded.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any

from celery import Celery

from pypeline.config.handlers import import_handler
from pypeline.config.ops import NotifyConfig
from pypeline.errors import PypelineError
from pypeline.store.notifications import record_attempt
from pypeline.store.tags import tags_of
from pypeline.tasks.app import runtime_of
from pypeline.tasks.shared import shared_task

__all__ = ["NOTIFY_TASK", "SIGNATURE_HEADER", "enqueue_notification", "notify_run", "sign", "run_document"]

log = logging.getLogger(__name__)

NOTIFY_TASK = "pypeline.notify_run"
#: Header carrying `sha256=<hex HMAC-SHA256 of the body>` keyed with the secret from `notify.secretEnv`.
SIGNATURE_HEADER = "X-Pypeline-Signature"


def enqueue_notification(celery: Celery, run_id: str, status: str, queue: str) -> None:
    """Ask a worker to deliver the notification of a finished run."""
    celery.send_task(NOTIFY_TASK, args=[run_id, status, queue], queue=queue)


def sign(secret: str, body: bytes) -> str:
    """The signature header value of `body`: `sha256=<hex digest>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def run_document(rt: Any, run_id: str) -> dict[str, Any]:
    """What a notification carries: the run record, its tags and each node's status and error."""
    run: dict[str, Any] = rt.store.get_run(run_id)
    run["tags"] = tags_of(rt.store.engine, [run_id])[run_id]
    run["nodes"] = [{"node": n, "instance": i, "status": s, "error": e} for n, i, s, e in rt.store.node_states(run_id)]
    return run


def _post(cfg: NotifyConfig, body: bytes, status: str) -> tuple[bool, int | None, str | None]:
    headers = {"Content-Type": "application/json", "User-Agent": "pypeline-notify", "X-Pypeline-Event": status}
    if cfg.secret_env:
        secret = os.environ.get(cfg.secret_env)
        if not secret:
            return False, None, f"environment variable {cfg.secret_env} (notify.secretEnv) is not set"
        headers[SIGNATURE_HEADER] = sign(secret, body)
    request = urllib.request.Request(str(cfg.webhook), data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=cfg.timeout) as response:  # noqa: S310 - URL from config
            return True, response.status, None
    except urllib.error.HTTPError as exc:
        return False, exc.code, f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError) as exc:
        return False, None, f"{type(exc).__name__}: {exc}"


def _call_handler(cfg: NotifyConfig, document: dict[str, Any]) -> tuple[bool, int | None, str | None]:
    try:
        import_handler(str(cfg.handler))(document)
    except Exception as exc:  # noqa: BLE001 - a user callback may raise anything; it is recorded and retried
        return False, None, f"{type(exc).__name__}: {exc}"
    return True, None, None


@shared_task(name=NOTIFY_TASK, bind=True, ignore_result=True, acks_late=True)
def notify_run(self: Any, run_id: str, status: str, queue: str, channel: str | None = None, attempt: int = 1) -> None:
    """Deliver one run's notification on each configured channel (or only `channel`, on a retry)."""
    rt = runtime_of(self.app)
    if rt is None:
        raise PypelineError("notify_run runs only as a task of a Pypeline worker")
    pipeline = rt.config.pipelines.get(rt.store.get_run(run_id)["pipeline_id"])
    cfg: NotifyConfig | None = pipeline.notify if pipeline is not None else None
    if cfg is None:
        return
    document = run_document(rt, run_id)
    body = json.dumps(document, sort_keys=True, default=str).encode()
    channels = [channel] if channel else [c for c in ("webhook", "handler") if getattr(cfg, c)]
    for ch in channels:
        ok, code, error = _post(cfg, body, status) if ch == "webhook" else _call_handler(cfg, document)
        target = str(cfg.webhook if ch == "webhook" else cfg.handler)
        record_attempt(rt.store.engine, run_id=run_id, channel=ch, target=target, event=status, attempt=attempt,
                       ok=ok, status_code=code, error=error)
        if ok:
            continue
        if attempt <= cfg.retries:
            delay = cfg.retry_delay(attempt)
            log.warning("notification %s of run %s failed (%s); retry %d/%d in %.1f s", ch, run_id, error, attempt,
                        cfg.retries, delay)
            notify_run.apply_async(args=[run_id, status, queue, ch, attempt + 1], countdown=delay, queue=queue)
        else:
            log.error("notification %s of run %s failed after %d attempt(s): %s", ch, run_id, attempt, error)

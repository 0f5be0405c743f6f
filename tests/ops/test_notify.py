"""Notifications: a finished run is POSTed (signed, retried with backoff) and handed to a handler; attempts recorded."""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pypeline.config import load_config_text
from pypeline.errors import ConfigError
from pypeline.runtime import Runtime
from pypeline.services import invoke as invoke_service
from pypeline.services import runs as run_service
from tests.helpers import WebhookReceiver, wait_until, webhook_receiver
from tests.ops import handlers
from tests.ops.support import make_runtime


@pytest.fixture()
def hook() -> Iterator[WebhookReceiver]:
    with webhook_receiver(fail_first=1) as server:
        yield server


def test_failed_run_is_posted_signed_retried_and_handed_to_the_handler(
    tmp_path: Path, store_url: str, hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_TEST_HOOK_SECRET", "s3cret")
    rt = make_runtime(tmp_path, store_url)
    config = Path(rt.settings.config_path or "")
    config.write_text(config.read_text().replace("http://127.0.0.1:1/hook", hook.url))
    rt = Runtime.from_path(str(config), rt.settings)
    handlers.NOTIFIED.clear()
    with rt.embedded_worker(concurrency=2):
        run_id = invoke_service.invoke(rt, "notified", tags=["alert"])
        assert rt.wait(run_id, 30)["status"] == "FAILED"
        wait_until(lambda: len(hook.requests) == 2 and len(handlers.NOTIFIED) == 1, interval=0.02)
        wait_until(lambda: len(run_service.get_run(rt, run_id)["notifications"]) == 3, interval=0.02)
    headers, body = hook.requests[-1]
    assert headers["X-Pypeline-Signature"] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert hook.requests[0][1] == body  # the retry sends the same signed document
    document = json.loads(body)
    assert document["id"] == run_id and document["status"] == "FAILED" and document["tags"] == ["alert"]
    assert document["nodes"][0]["error"] == "RuntimeError: boom"
    assert handlers.NOTIFIED[0]["id"] == run_id
    attempts = run_service.get_run(rt, run_id)["notifications"]
    webhook = [a for a in attempts if a["channel"] == "webhook"]
    assert [(a["attempt"], a["ok"], a["status_code"]) for a in webhook] == [(1, False, 500), (2, True, 200)]
    assert [a["ok"] for a in attempts if a["channel"] == "handler"] == [True]


def test_notify_config_is_validated() -> None:
    base = """
pipelines:
  p:
    name: p
    config:
      metadata:
        notify: {notify}
      dagAdjacency: {{a: []}}
      taskDefinitions: {{a: {{handler: tests.ops.handlers.fails}}}}
"""
    good = load_config_text(base.format(notify="{on: [failed, timed_out], webhook: 'https://x.test/h'}"),
                            check_handlers=False)
    assert good.pipeline("p").notify.on == ("FAILED", "TIMED_OUT")
    for bad in ("{on: [exploded], webhook: 'https://x.test/h'}", "{on: [failed]}", "{webhook: 'ftp://x'}",
                "{secretEnv: X, handler: a.b}", "{handler: notdotted}"):
        with pytest.raises(ConfigError):
            load_config_text(base.format(notify=bad), check_handlers=False)
    for handler, message in (("tests.ops.handlers.missing", "could not be imported"),
                             ("tests.ops.handlers.held", None), ("tests.ops.handlers.RELEASE", "not callable")):
        text = base.format(notify="{handler: " + handler + "}")
        if message is None:
            assert load_config_text(text).pipeline("p").notify.handler == handler
        else:
            with pytest.raises(ConfigError, match=message):
                load_config_text(text)
    with pytest.raises(ConfigError, match="one argument"):
        load_config_text(base.format(notify="{handler: tests.ops.handlers.two_args}"))
    with pytest.raises(ConfigError, match="maxActiveRuns"):
        load_config_text(base.replace("notify: {notify}", "maxActiveRuns: 0"), check_handlers=False)

"""`notify: {on: [timed_out]}`: a run ended by its maxRunTtl is announced once, as TIMED_OUT (webhook and handler)."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pypeline.engines import limits
from pypeline.reconciler import Reconciler
from pypeline.runtime import Runtime
from pypeline.services import runs as run_service
from pypeline.status import Status
from tests.helpers import WebhookReceiver, wait_until, webhook_receiver
from tests.subpipelines import handlers
from tests.subpipelines.support import make_runtime


@pytest.fixture()
def hook() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as server:
        yield server


def _runtime(tmp_path: Path, store_url: str, hook_url: str, on: str) -> Runtime:
    rt = make_runtime(tmp_path, store_url, reconcile_interval=3600.0)  # passes run only when the test asks
    config = Path(rt.settings.config_path or "")
    config.write_text(config.read_text().replace("http://127.0.0.1:1/hook", hook_url)
                      .replace("on: [failed, timed_out]", f"on: [{on}]"))
    return Runtime.from_path(str(config), rt.settings)


def test_a_timed_out_run_notifies_timed_out_exactly_once(tmp_path: Path, store_url: str, hook: WebhookReceiver) -> None:
    rt = _runtime(tmp_path, store_url, hook.url, "failed, timed_out")
    handlers.NOTIFIED.clear()
    handlers.RELEASE.clear()
    try:
        with rt.embedded_worker(concurrency=2):
            run_id = rt.start_run("timed", {})
            wait_until(lambda: rt.store.node_runs(run_id)[0]["status"] == "RUNNING", interval=0.02)
            time.sleep(1.2)  # past maxRunTtl (1 s)
            assert Reconciler(rt).run_once().timed_out == [run_id]
            wait_until(lambda: len(hook.requests) == 1 and len(handlers.NOTIFIED) == 1, interval=0.02)
            assert Reconciler(rt).run_once().timed_out == []  # a second pass neither times out nor notifies
            handlers.RELEASE.set()
            time.sleep(0.5)
    finally:
        handlers.RELEASE.set()
    assert len(hook.requests) == 1 and len(handlers.NOTIFIED) == 1
    headers, body = hook.requests[0]
    assert headers["X-Pypeline-Event"] == "TIMED_OUT"
    document = json.loads(body)
    assert document["id"] == run_id and document["status"] == "FAILED" and "maxRunTtl" in document["error"]
    assert handlers.NOTIFIED[0]["id"] == run_id
    attempts = run_service.get_run(rt, run_id)["notifications"]
    assert sorted((a["channel"], a["event"], a["ok"]) for a in attempts) == [
        ("handler", "TIMED_OUT", True), ("webhook", "TIMED_OUT", True)]


@pytest.mark.parametrize(("on", "status", "event", "sent"), [
    ("failed", Status.FAILED, "TIMED_OUT", "FAILED"),  # only `failed` asked for: a timed-out run is a failed run
    ("timed_out", Status.FAILED, None, None),  # an ordinary failure is not a timeout
    ("timed_out", Status.FAILED, "TIMED_OUT", "TIMED_OUT"),
    ("failed, timed_out", Status.FAILED, "TIMED_OUT", "TIMED_OUT"),  # one notification, the specific one
])
def test_which_event_a_finished_run_notifies(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch,
                                             on: str, status: Status, event: str | None, sent: str | None) -> None:
    rt = _runtime(tmp_path, store_url, "http://127.0.0.1:1/hook", on)
    run_id = rt.start_run("timed", {})  # no worker: only its record matters
    calls: list[Any] = []
    monkeypatch.setattr(limits, "enqueue_notification", lambda *args: calls.append(args[2]))
    limits.run_finished_hooks(rt, run_id, status, event=event)
    assert calls == ([] if sent is None else [sent])

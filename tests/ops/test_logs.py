"""Per-node logs: print/logging output captured per node attempt, separated between threads, bounded."""
from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable

from click.testing import CliRunner

from pypeline.cli import cli
from pypeline.runtime import Runtime
from pypeline.services import invoke as invoke_service
from pypeline.services import logs as log_service
from pypeline.services import runs as run_service
from pypeline.tasks.logs import TRUNCATION_MARK, capture


def test_threads_pool_keeps_each_nodes_output_apart(ops_runtime: Callable[..., Runtime]) -> None:
    rt = ops_runtime()
    markers = [f"m{i}" for i in range(6)]
    with rt.embedded_worker(concurrency=4):
        runs = {m: invoke_service.invoke(rt, "chatty", {"marker": m, "lines": 40}) for m in markers}
        for run_id in runs.values():
            assert rt.wait(run_id, 60)["status"] == "SUCCESS"
    for marker, run_id in runs.items():
        page = log_service.run_logs(rt, run_id, node="talk")
        assert page["terminal"] and len(page["items"]) == 1
        text = page["items"][0]["text"]
        for kind in ("out", "err", "log"):
            assert sum(f"{kind} {marker} " in line for line in text.splitlines()) == 40, (kind, marker)
        others = [m for m in markers if m != marker]
        assert not any(f" {m} " in text for m in others), f"{marker} saw another node's output"
        node = run_service.get_run(rt, run_id)["nodes"][0]
        assert node["logs"] == f"/api/v1/runs/{run_id}/logs?node=talk"
    result = CliRunner().invoke(cli, ["runs", "logs", runs["m0"], "--node", "talk", "--follow", "--database",
                                       rt.settings.resolved_database_url])
    assert result.exit_code == 0, result.output
    assert "==> talk (attempt 1) <==" in result.output and "out m0 39" in result.output


def test_output_is_bounded_and_truncation_is_marked() -> None:
    chunks: list[str] = []
    with capture(chunks.append, limit=100, flush_every=3600):
        for i in range(50):
            print(f"line {i}")
        logging.getLogger("tests.ops").warning("after the limit")
    text = "".join(chunks)
    assert text.startswith("line 0\n") and text.endswith(TRUNCATION_MARK.format(limit=100))
    assert len(text.encode()) == 100 + len(TRUNCATION_MARK.format(limit=100))


def test_output_outside_a_capture_and_from_other_threads_passes_through() -> None:
    chunks: list[str] = []
    seen: list[str] = []

    def other() -> None:
        print("from another thread")
        seen.append("ran")

    with capture(chunks.append, limit=10_000):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        sys.stdout.write("mine\n")
    print("after the block")
    assert "".join(chunks) == "mine\n" and seen == ["ran"]


def test_capture_can_be_turned_off() -> None:
    with capture(lambda text: None, limit=0) as cap:
        print("not kept")
    assert cap is None


def test_logs_page_through_more_than_one_answer(ops_runtime: Callable[..., Runtime]) -> None:
    from sqlalchemy import insert

    from pypeline.store.models import NodeLog, utcnow

    rt = ops_runtime()
    run_id = invoke_service.invoke(rt, "chatty", {"marker": "x"})
    with rt.store.engine.begin() as conn:
        conn.execute(insert(NodeLog.__table__), [
            {"run_id": run_id, "node": "talk", "instance": "", "attempt": 1 + i // 1000, "text": f"chunk {i}\n",
             "created_at": utcnow()} for i in range(1005)])
    first = log_service.run_logs(rt, run_id)
    assert [item["attempt"] for item in first["items"]] == [1] and first["items"][0]["text"].count("\n") == 1000
    second = log_service.run_logs(rt, run_id, after=first["next"])
    assert second["items"][0]["text"].startswith("chunk 1000\n") and second["items"][0]["attempt"] == 2
    assert log_service.run_logs(rt, run_id, after=second["next"])["items"] == []
    result = CliRunner().invoke(cli, ["runs", "logs", run_id, "--database", rt.settings.resolved_database_url])
    assert result.exit_code == 0 and "chunk 1004" in result.output and "(attempt 2) <==" in result.output

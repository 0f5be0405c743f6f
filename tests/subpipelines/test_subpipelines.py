"""Sub-pipelines with an embedded worker on SQLite and PostgreSQL: result, failure and retries, cancel cascade,
lost completions healed by the reconciler, and the faces (service, CLI, API)."""
from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from pypeline.cli import cli
from pypeline.engines import subpipelines
from pypeline.reconciler import Reconciler
from pypeline.runtime import Runtime
from pypeline.services import runs as run_service
from pypeline.status import Status
from pypeline.store import children
from tests.helpers import wait_until
from tests.subpipelines import handlers


def _node(rt: Runtime, run_id: str, name: str) -> dict[str, object]:
    return next(n for n in rt.store.node_runs(run_id) if n["node"] == name)


@pytest.mark.parametrize("pipeline", ["parent", "parent_dyrygent"])
def test_child_result_completes_the_parent_node_with_one_worker_slot(
    sub_runtime: Callable[..., Runtime], pipeline: str
) -> None:
    rt = sub_runtime()
    with rt.embedded_worker(concurrency=1):  # the child's node needs the only slot: nothing may wait in it
        run_id = rt.start_run(pipeline, {"x": 5})
        record = rt.wait(run_id, 60)
    assert record["status"] == "SUCCESS", record
    assert record["result"] == {"finish": 11}
    assert _node(rt, run_id, "sub")["result"] == {"double": 10}  # the child's result document
    (child,) = children.children_of(rt.store.engine, run_id)
    assert child["pipeline_id"] == "child" and child["status"] == "SUCCESS" and child["node"] == "sub"
    child_run = rt.store.get_run(child["id"])
    assert child_run["payload"] == {"chain_payload": {"x": 5}, "upstream": {"prepare": {"x": 5}}}
    assert (child_run["parent_run_id"], child_run["parent_node"], child_run["parent_instance"]) == (run_id, "sub", "")
    assert child_run["origin"] == f"pipeline:{pipeline}"
    detail = run_service.get_run(rt, child["id"])
    assert detail["parent"] == {"run_id": run_id, "node": "sub", "instance": ""} and detail["children"] == []
    assert run_service.get_run(rt, run_id)["children"][0]["id"] == child["id"]
    started = rt.store.events(run_id, subpipelines.STARTED_EVENT)
    assert [e["data"]["child_run_id"] for e in started] == [child["id"]]


def test_each_split_instance_starts_its_own_child(sub_runtime: Callable[..., Runtime]) -> None:
    rt = sub_runtime()
    with rt.embedded_worker(concurrency=2):
        run_id = rt.start_run("parent_split", {"items": [1, 2, 3]})
        record = rt.wait(run_id, 60)
    assert record["status"] == "SUCCESS", record
    assert record["result"] == {"sub": {"0": {"echo": 10}, "1": {"echo": 20}, "2": {"echo": 30}}}
    kids = children.children_of(rt.store.engine, run_id)
    assert sorted(k["instance"] for k in kids) == ["0", "1", "2"] and {k["node"] for k in kids} == {"sub"}
    assert run_service.get_run(rt, kids[0]["id"])["parent"]["instance"] == kids[0]["instance"]


def test_child_failure_follows_the_parent_nodes_retry_policy(sub_runtime: Callable[..., Runtime]) -> None:
    rt = sub_runtime()
    with rt.embedded_worker(concurrency=2):
        run_id = rt.start_run("parent_of_broken", {})
        record = rt.wait(run_id, 60)
    assert record["status"] == "FAILED" and record["failed_node"] == "sub"
    kids = children.children_of(rt.store.engine, run_id)
    assert [k["status"] for k in kids] == ["FAILED", "FAILED"]  # maxRetry 1: one retry, each with a new child
    sub = _node(rt, run_id, "sub")
    assert sub["status"] == "FAILED" and sub["retries"] == 1
    assert kids[-1]["id"] in str(sub["error"]) and "child boom" in str(sub["error"])
    assert _node(rt, run_id, "after")["status"] == "SKIPPED"


def test_cancelling_the_child_fails_the_parent_node_without_retry(sub_runtime: Callable[..., Runtime]) -> None:
    rt = sub_runtime()
    with rt.embedded_worker(concurrency=2):
        run_id = rt.start_run("parent_of_slow", {})
        wait_until(lambda: bool(children.children_of(rt.store.engine, run_id)))
        child_id = children.children_of(rt.store.engine, run_id)[0]["id"]
        wait_until(lambda: _node(rt, child_id, "wait")["status"] == "RUNNING")
        sub = _node(rt, run_id, "sub")
        assert sub["status"] == "RUNNING" and sub["lease_expires_at"] is None  # handed off: no worker holds it
        run_service.cancel_run(rt, child_id)
        handlers.RELEASE.set()
        record = rt.wait(run_id, 30)
    assert record["status"] == "FAILED"
    assert "CANCELLED" in str(_node(rt, run_id, "sub")["error"])
    assert len(children.children_of(rt.store.engine, run_id)) == 1


def test_cancelling_the_parent_cascades_to_every_descendant(sub_runtime: Callable[..., Runtime]) -> None:
    rt = sub_runtime()
    with rt.embedded_worker(concurrency=2):
        run_id = rt.start_run("grandparent", {})
        wait_until(lambda: bool(children.children_of(rt.store.engine, run_id)))
        middle = children.children_of(rt.store.engine, run_id)[0]["id"]
        wait_until(lambda: bool(children.children_of(rt.store.engine, middle)))
        leaf = children.children_of(rt.store.engine, middle)[0]["id"]
        wait_until(lambda: _node(rt, leaf, "wait")["status"] == "RUNNING")
        run_service.cancel_run(rt, run_id)
        handlers.RELEASE.set()
        for rid in (run_id, middle, leaf):
            assert rt.wait(rid, 30)["status"] == "CANCELLED"
    assert rt.store.events(leaf, subpipelines.CASCADE_EVENT)[0]["data"] == {"by_parent": middle}


def test_a_lost_completion_and_a_lost_cascade_are_healed_by_the_reconciler(
    sub_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = sub_runtime(queued_overdue_seconds=0.0, reconcile_interval=3600.0)  # passes run here only
    with rt.embedded_worker(concurrency=2):
        # The process that ends the child dies before its hook publishes the parent node.
        monkeypatch.setattr(subpipelines, "on_run_finished", lambda *a, **k: None)
        run_id = rt.start_run("parent_of_slow", {})
        # Handed off: RUNNING without lease, its child started (a QUEUED node has no lease either).
        wait_until(lambda: _node(rt, run_id, "sub")["status"] == "RUNNING" and _node(rt, run_id, "sub")[
            "lease_expires_at"] is None and bool(children.children_of(rt.store.engine, run_id)))
        handlers.RELEASE.set()
        wait_until(lambda: any(c["status"] == "SUCCESS" for c in children.children_of(rt.store.engine, run_id)))
        time.sleep(0.3)
        assert rt.store.run_status(run_id) is Status.RUNNING and _node(rt, run_id, "sub")["status"] == "RUNNING"
        report = Reconciler(rt).run_once()
        assert report.children_completed == [run_id]
        assert rt.wait(run_id, 30)["result"] == {"sub": {"wait": "released"}}
        handlers.RELEASE.clear()

        # A parent cancelled while its cascade is lost: the orphaned child is cancelled by the next pass.
        slow = rt.start_run("parent_of_slow", {})
        wait_until(lambda: bool(children.children_of(rt.store.engine, slow)))
        child_id = children.children_of(rt.store.engine, slow)[0]["id"]
        run_service.cancel_run(rt, slow)
        assert rt.store.run_status(child_id) in (Status.RUNNING, Status.QUEUED, Status.PENDING)
        monkeypatch.undo()
        assert Reconciler(rt).run_once().children_cancelled == [child_id]
        handlers.RELEASE.set()
        assert rt.wait(child_id, 30)["status"] == "CANCELLED"


def test_faces_show_the_links_both_ways(sub_runtime: Callable[..., Runtime]) -> None:
    rt = sub_runtime()
    with rt.embedded_worker(concurrency=2):
        run_id = rt.start_run("parent", {"x": 2})
        rt.wait(run_id, 60)
    child_id = children.children_of(rt.store.engine, run_id)[0]["id"]
    base = ["--config", rt.settings.config_path or "", "--database", rt.settings.resolved_database_url]
    runner = CliRunner()
    shown = runner.invoke(cli, ["runs", "show", child_id, *base, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["parent"] == {"run_id": run_id, "node": "sub", "instance": ""}
    text = runner.invoke(cli, ["runs", "show", run_id, *base, "--text"])
    assert text.exit_code == 0, text.output
    assert f"child: run {child_id} (child, SUCCESS) started by node sub" in text.output
    text = runner.invoke(cli, ["runs", "show", child_id, *base, "--text"])
    assert f"parent: run {run_id} node sub" in text.output

    from pypeline.services import keys as key_service
    from pypeline.webapp import create_app

    client = create_app(runtime=rt).test_client()
    auth = {"Authorization": f"Bearer {key_service.create_key(rt, 'reader', 'read').token}"}
    parent_doc = client.get(f"/api/v1/runs/{run_id}", headers=auth).get_json()
    assert [c["id"] for c in parent_doc["children"]] == [child_id] and parent_doc["parent"] is None
    assert parent_doc["children"][0]["node"] == "sub" and parent_doc["children"][0]["status"] == "SUCCESS"
    child_doc = client.get(f"/api/v1/runs/{child_id}", headers=auth).get_json()
    assert child_doc["parent"] == {"run_id": run_id, "node": "sub", "instance": ""}
    assert child_doc["parent_run_id"] == run_id and child_doc["parent_node"] == "sub"

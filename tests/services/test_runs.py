"""Run control: one table of allowed actions on every face, and cancel racing completion on PostgreSQL."""
from __future__ import annotations

import logging
import threading
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import exc as sa_exc

from pypeline.commands.run_cmds import EXIT_STORE_UNAVAILABLE, _wait_with_progress
from pypeline.commands.runs_cmds import runs
from pypeline.config import load_config
from pypeline.errors import InvalidTransitionError, StoreUnavailableError
from pypeline.runtime import Runtime
from pypeline.services import runs as run_service
from pypeline.services.invoke import invoke
from pypeline.settings import Settings
from pypeline.status import RUN_ACTIONS, RUN_TRANSITIONS, RunAction, Status, check_action
from pypeline.store.repository import FinishPlan, NodeSpec
from tests.helpers import unique_queue_config

#: The run status each action moves to when it is allowed.
_TARGET = {RunAction.CANCEL: Status.CANCELLED, RunAction.PAUSE: Status.PAUSED, RunAction.RESUME: Status.RUNNING,
           RunAction.RETRY: Status.RUNNING}


def test_every_allowed_action_is_a_transition_of_the_state_machine() -> None:
    for action, sources in RUN_ACTIONS.items():
        for status in Status:
            if status in sources:
                check_action(status, action)
                assert _TARGET[action] in RUN_TRANSITIONS[status], (action, status)
            else:
                with pytest.raises(InvalidTransitionError, match=f"cannot {action} a {status} run"):
                    check_action(status, action)


@pytest.fixture(params=["sqlite", "postgresql"])
def rt(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Runtime:
    database = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    config, _ = unique_queue_config(tmp_path)
    settings = Settings(config_path=str(config), broker_url=redis_url, database_url=database, home=tmp_path / "home")
    return Runtime(load_config(str(config)), settings, register=False)


def _refused(rt: Runtime, action: str, run_id: str, status: str) -> None:
    with pytest.raises(InvalidTransitionError, match=f"cannot {action} a {status} run"):
        getattr(run_service, f"{action}_run")(rt, run_id)
    assert rt.store.get_run(run_id)["status"] == status


def test_run_actions_are_refused_outside_their_states(rt: Runtime) -> None:
    run_id = invoke(rt, "diamond")  # no worker: it stays RUNNING
    _refused(rt, "resume", run_id, "RUNNING")
    _refused(rt, "retry", run_id, "RUNNING")
    assert run_service.pause_run(rt, run_id)["status"] == "PAUSED"
    _refused(rt, "pause", run_id, "PAUSED")
    _refused(rt, "retry", run_id, "PAUSED")
    assert run_service.resume_run(rt, run_id)["status"] == "RUNNING"
    assert run_service.cancel_run(rt, run_id)["status"] == "CANCELLED"
    # Regression: resuming a CANCELLED run made it SUCCESS with result {}.
    _refused(rt, "resume", run_id, "CANCELLED")
    _refused(rt, "pause", run_id, "CANCELLED")
    _refused(rt, "cancel", run_id, "CANCELLED")
    assert rt.store.get_run(run_id)["result"] is None
    assert run_service.retry_run(rt, run_id)["status"] == "RUNNING"  # retry is the way back from CANCELLED


def test_resume_of_a_failed_run_is_refused(rt: Runtime) -> None:
    run_id = invoke(rt, "diamond")
    assert rt.store.claim_node(run_id, "a", "t").claimed
    rt.store.fail_node(run_id, "a", "ValueError: x", "tb", ["b", "c"])
    assert rt.store.get_run(run_id)["status"] == "FAILED"
    _refused(rt, "resume", run_id, "FAILED")
    _refused(rt, "pause", run_id, "FAILED")
    _refused(rt, "cancel", run_id, "FAILED")


def test_refusals_on_the_cli_exit_1_and_on_the_api_are_409(rt: Runtime) -> None:
    run_id = invoke(rt, "diamond")
    run_service.cancel_run(rt, run_id)
    settings = rt.settings
    args = ["resume", run_id, "--config", str(settings.config_path), "--database", rt.store.url,
            "--broker", settings.broker_url]
    result = CliRunner().invoke(runs, args)
    assert result.exit_code == 1 and "cannot resume a CANCELLED run" in result.output
    assert "Traceback" not in result.output
    from pypeline.api import create_app
    from pypeline.services import keys as key_service

    app = create_app(runtime=rt)
    app.config["TESTING"] = True
    key = key_service.create_key(rt, "writer", "write").token
    resp = app.test_client().post(f"/api/v1/runs/{run_id}/resume", headers={"accesskey": key})
    assert resp.status_code == 409 and resp.json["code"] == "invalid_transition"
    assert "cannot resume a CANCELLED run" in resp.json["message"]
    assert rt.store.get_run(run_id)["status"] == "CANCELLED"


def test_cancel_racing_completion_never_deadlocks_on_postgres(postgres_url: str, redis_url: str, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """Cancel locks the run then its nodes; finishing a node must take the same order (no deadlock, no retry)."""
    config, _ = unique_queue_config(tmp_path)
    rt = Runtime(load_config(str(config)), Settings(broker_url=redis_url, database_url=postgres_url,
                                                    home=tmp_path / "home"), register=False)
    store = rt.store
    from pypeline.api import create_app
    from pypeline.services import keys as key_service

    app = create_app(runtime=rt)
    app.config["TESTING"] = True
    headers = {"accesskey": key_service.create_key(rt, "writer", "write").token}
    codes: list[int] = []
    width = 4
    outcomes: list[str] = []
    errors: list[BaseException] = []
    caplog.set_level(logging.WARNING, logger="pypeline.store.retry")
    for _ in range(40):
        run_id = str(uuid.uuid4())
        specs = [NodeSpec(f"n{i}", "h", "q", 0) for i in range(width)]
        store.create_run(run_id, "diamond", specs, leaves=[s.node for s in specs], payload={})
        for spec in specs:
            assert store.claim_node(run_id, spec.node, f"task-{spec.node}").claimed
        barrier = threading.Barrier(width + 1)

        def finish(node: str, rid: str = run_id, gate: threading.Barrier = barrier) -> None:
            try:
                gate.wait()
                store.finish_node(rid, node, Status.SUCCESS, result=1, plan=FinishPlan(), task_id=f"task-{node}")
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        def cancel(rid: str = run_id, gate: threading.Barrier = barrier) -> None:
            try:
                client = app.test_client()
                gate.wait()
                resp = client.post(f"/api/v1/runs/{rid}/cancel", headers=headers)
                codes.append(resp.status_code)  # 200 cancelled, or 409: the run finished first
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=finish, args=(s.node,)) for s in specs] + [threading.Thread(target=cancel)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        run = store.get_run(run_id)
        nodes = {n["node"]: n["status"] for n in store.node_runs(run_id)}
        outcomes.append(run["status"])
        assert run["status"] in ("SUCCESS", "CANCELLED"), (run, nodes)
        if run["status"] == "SUCCESS":
            assert set(nodes.values()) == {"SUCCESS"}
        else:
            assert set(nodes.values()) <= {"SUCCESS", "CANCELLED"}
    assert errors == [] and set(codes) <= {200, 409}, codes  # never a 500
    deadlocks = [r for r in caplog.records if "deadlock" in r.getMessage().lower()]
    assert deadlocks == [], "locks were taken in different orders (the retry hid a deadlock)"
    assert "CANCELLED" in outcomes or "SUCCESS" in outcomes


def _store_down(*_: object, **__: object) -> None:
    raise StoreUnavailableError("run store unavailable: run_status failed for 30 s; last error: AdminShutdown")


def test_waiting_run_command_exits_4_with_one_line_when_the_store_stays_down(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = unique_queue_config(tmp_path)
    rt = Runtime(load_config(str(config)), Settings(broker_url="memory://", home=tmp_path / "home",
                                                    database_url=f"sqlite:///{tmp_path / 's.sqlite'}"),
                 register=False)
    run_id = invoke(rt, "diamond")
    monkeypatch.setattr(rt.store, "run_status", _store_down)
    with pytest.raises(SystemExit) as exited:
        _wait_with_progress(rt, run_id, 10.0, show=False)
    assert exited.value.code == EXIT_STORE_UNAVAILABLE == 4
    err = capsys.readouterr().err
    assert f"store unavailable: run {run_id} state unknown" in err and "Traceback" not in err


def test_api_answers_503_with_retry_after_when_the_store_is_down(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from pypeline.api import create_app
    from pypeline.services import keys as key_service

    config, _ = unique_queue_config(tmp_path)
    rt = Runtime(load_config(str(config)), Settings(broker_url="memory://", home=tmp_path / "home",
                                                    database_url=f"sqlite:///{tmp_path / 's.sqlite'}"),
                 register=False)
    app = create_app(runtime=rt)
    app.config["TESTING"] = True
    headers = {"accesskey": key_service.create_key(rt, "writer", "write").token}
    run_id = invoke(rt, "diamond")
    client = app.test_client()
    monkeypatch.setattr(rt.store, "get_run", _store_down)  # after the run store's own retries ran out
    resp = client.get(f"/api/v1/runs/{run_id}", headers=headers)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
    assert resp.json == {"code": "store_unavailable", "message": "the run store is unavailable; retry shortly"}

    def raw_outage(*_: object, **__: object) -> None:  # a store call outside RunStore's retries
        raise sa_exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(rt.store, "get_run", raw_outage)
    resp = client.get(f"/api/v1/runs/{run_id}", headers=headers)
    assert resp.status_code == 503 and resp.json["code"] == "store_unavailable"


def test_waiter_rides_through_a_broken_wake_up_channel(tmp_path: Path, redis_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    config, _ = unique_queue_config(tmp_path)
    rt = Runtime(load_config(str(config)), Settings(broker_url=redis_url, home=tmp_path / "home",
                                                    database_url=f"sqlite:///{tmp_path / 's.sqlite'}"),
                 register=False)
    run_id = invoke(rt, "diamond")
    failures: list[int] = []

    class BrokenResult:
        def get(self, **_: object) -> None:
            failures.append(1)
            raise RedisConnectionError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr(rt.celery, "AsyncResult", lambda _id: BrokenResult())
    ender = threading.Timer(0.3, lambda: rt.store.cancel_run(run_id))
    ender.start()
    try:
        record = rt.wait(run_id, 20)
    finally:
        ender.join()
    assert record["status"] == "CANCELLED" and failures  # fell back to polling the store

"""Batch service on SQLite and PostgreSQL: chunking, cursor, cap, stop/resume, crash repair, bad input.

Most tests step the driver by hand (`drive_step`) and finish chunk runs through the run store, so
they need no worker; the last tests run a real in-process worker on Redis.
"""
from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pypeline.batches import driver
from pypeline.batches.launch import launch
from pypeline.batches.spec import BatchSpec, adhoc_spec, spec_from_config
from pypeline.batches.store import BatchStore, Chunk, batch_store
from pypeline.config.model import GeneratorConfig
from pypeline.errors import InvalidInputError, InvalidTransitionError, NotFoundError, PypelineError
from pypeline.generators import AccessDeniedError
from pypeline.runtime import Runtime
from pypeline.services import batches
from pypeline.settings import EMBEDDED_BROKER, Settings
from pypeline.status import Status
from tests.e2e.batch_support import collected, write_config
from tests.helpers import poll_until, wait_until

NODE = "record"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The store URL: a SQLite file, or a fresh PostgreSQL database."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


def make_tree(root: Path, n: int) -> list[str]:
    """`n` files spread over nested folders; returns their keys in listing (sorted) order."""
    keys = []
    for i in range(n):
        key = f"d{i % 3}/sub{i % 2}/f{i:04d}.txt"
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(i))
        keys.append(key)
    return sorted(keys)


def runtime(tmp_path: Path, db_url: str, *, register: bool = False, broker: str = EMBEDDED_BROKER,
            **config: Any) -> Runtime:
    """A runtime on the batch test config (unique queue; embedded broker unless given, the given store)."""
    path, _ = write_config(tmp_path, **config)
    settings = Settings(config_path=str(path), home=tmp_path / "home", database_url=db_url, broker_url=broker)
    return Runtime.from_path(str(path), settings, register=register)


def chunk_runs(rt: Runtime, batch_run_id: str) -> list[dict[str, Any]]:
    """Every chunk of the batch run with its status."""
    return batches.batch_chunks(rt, batch_run_id, limit=500)


def finish_chunks(rt: Runtime, batch_run_id: str, *, fail: frozenset[int] = frozenset()) -> int:
    """Play the worker: finish every RUNNING chunk run (FAILED for chunk numbers in `fail`); returns how many."""
    done = 0
    for chunk in chunk_runs(rt, batch_run_id):
        if chunk["status"] != "RUNNING":
            continue
        assert rt.store.claim_node(chunk["run_id"], NODE, "test-task").claimed
        if chunk["chunk"] in fail:
            rt.store.finish_node(chunk["run_id"], NODE, Status.FAILED, error="ValueError: boom", tb="")
        else:
            rt.store.finish_node(chunk["run_id"], NODE, Status.SUCCESS, result={"ok": chunk["chunk"]})
        done += 1
    return done


def drive_to_end(rt: Runtime, batch_run_id: str, token: str, limit: int = 500) -> dict[str, Any]:
    """Alternate driver steps and chunk completions until the driver stops; returns the batch record."""
    for _ in range(limit):
        outcome = driver.drive_step(rt, batch_run_id, token)
        if not outcome.active:
            return batches.batch_status(rt, batch_run_id)
        finish_chunks(rt, batch_run_id)
    raise AssertionError("batch did not finish")


def processed_keys(rt: Runtime, batch_run_id: str) -> list[str]:
    """Keys in the payloads of the chunk runs that exist, in chunk order (what handlers were given)."""
    keys: list[str] = []
    for chunk in chunk_runs(rt, batch_run_id):
        if chunk["status"] != "UNSTARTED":
            keys.extend(rt.store.get_run(chunk["run_id"])["payload"]["keys"])
    return keys


def batch_rows(rt: Runtime) -> int:
    """How many batch runs exist."""
    return batches.list_batch_runs(rt, 1, 0)[1]


# --------------------------------------------------------------------------------------------- happy path
def test_chunks_cursor_and_concurrency_cap(tmp_path: Path, db_url: str) -> None:
    keys = make_tree(tmp_path / "data", 23)
    rt = runtime(tmp_path, db_url, data_dir=tmp_path / "data")
    record = launch(rt, spec_from_config(rt.config, "files", {"chunkSize": 5, "concurrency": 2}),
                            driver="local", origin="test")
    assert record["status"] == "RUNNING" and record["driver"] == "local" and record["chunks_dispatched"] == 0
    rid, token = record["id"], record["driver_token"]

    first = driver.drive_step(rt, rid, token)
    assert first.active and first.started == 2
    status = batches.batch_status(rt, rid)
    assert status["keys_listed"] == 10 and status["cursor"] == keys[9] and status["chunks_running"] == 2
    assert driver.drive_step(rt, rid, token).started == 0  # the cap holds: two runs unfinished
    assert finish_chunks(rt, rid) == 2

    final = drive_to_end(rt, rid, token)
    assert final["status"] == "SUCCESS" and final["terminal"] and final["listing_done"]
    assert (final["keys_listed"], final["chunks_dispatched"], final["chunks_succeeded"]) == (23, 5, 5)
    assert processed_keys(rt, rid) == keys
    sizes = [c["key_count"] for c in chunk_runs(rt, rid)]
    assert sizes == [5, 5, 5, 5, 3] and [c["chunk"] for c in chunk_runs(rt, rid)] == [0, 1, 2, 3, 4]


def test_chunk_payload_shape_and_run_origin(tmp_path: Path, sqlite_url: str) -> None:
    make_tree(tmp_path / "data", 4)
    rt = runtime(tmp_path, sqlite_url, data_dir=tmp_path / "data")
    spec = spec_from_config(rt.config, "files", {"payloadKey": "files", "payload": {"mode": "x"},
                                                         "generator": {"include": "d0/**"}})
    record = launch(rt, spec, driver="local")
    driver.drive_step(rt, record["id"], record["driver_token"])
    run_id = chunk_runs(rt, record["id"])[0]["run_id"]
    run = rt.store.get_run(run_id)
    assert run["origin"] == f"batch:{record['id']}" and run["pipeline_id"] == "ingest"
    assert run["payload"] == {"mode": "x", "files": ["d0/sub0/f0000.txt", "d0/sub1/f0003.txt"],
                              "batch_run_id": record["id"], "batch_id": "files", "chunk": 0,
                              "batch_source": {"type": "local", "path": str(tmp_path / "data")}}


def test_empty_listing_succeeds_with_no_chunk(tmp_path: Path, sqlite_url: str) -> None:
    (tmp_path / "data").mkdir()
    rt = runtime(tmp_path, sqlite_url, data_dir=tmp_path / "data")
    record = launch(rt, spec_from_config(rt.config, "files"), driver="local")
    final = drive_to_end(rt, record["id"], record["driver_token"])
    assert (final["status"], final["keys_listed"], final["chunks_dispatched"]) == ("SUCCESS", 0, 0)


def test_exact_multiple_of_chunk_size_ends_listing_without_an_empty_chunk(tmp_path: Path, sqlite_url: str) -> None:
    keys = make_tree(tmp_path / "data", 10)
    rt = runtime(tmp_path, sqlite_url, data_dir=tmp_path / "data")
    record = launch(rt, spec_from_config(rt.config, "files", {"chunkSize": 5}), driver="local")
    final = drive_to_end(rt, record["id"], record["driver_token"])
    assert final["chunks_dispatched"] == 2 and processed_keys(rt, record["id"]) == keys


# --------------------------------------------------------------------------------------------- stop / resume
def test_stop_and_resume_neither_skip_nor_repeat(tmp_path: Path, db_url: str) -> None:
    keys = make_tree(tmp_path / "data", 37)
    rt = runtime(tmp_path, db_url, data_dir=tmp_path / "data")
    record = launch(rt, spec_from_config(rt.config, "files", {"chunkSize": 4, "concurrency": 3}),
                            driver="local")
    rid, old = record["id"], record["driver_token"]
    driver.drive_step(rt, rid, old)
    finish_chunks(rt, rid)
    driver.drive_step(rt, rid, old)

    stopped = batches.stop_batch(rt, rid)
    assert stopped["status"] == "PAUSED" and stopped["driver"] is None and stopped["chunks_running"] == 3
    assert not driver.drive_step(rt, rid, old).active
    finish_chunks(rt, rid)  # started chunk runs still finish while stopped
    assert batches.batch_status(rt, rid)["chunks_dispatched"] == 6

    resumed = batches.resume_batch(rt, rid, driver="local")
    assert resumed["status"] == "RUNNING" and resumed["driver_token"] != old
    assert driver.drive_step(rt, rid, old).started == 0  # the old driver is out for good
    final = drive_to_end(rt, rid, resumed["driver_token"])
    assert final["status"] == "SUCCESS"
    got = processed_keys(rt, rid)
    assert got == keys and len(set(got)) == len(keys)


def test_orphaned_running_batch_is_taken_over_and_old_driver_cannot_add_chunks(tmp_path: Path, db_url: str) -> None:
    keys = make_tree(tmp_path / "data", 12)
    rt = runtime(tmp_path, db_url, data_dir=tmp_path / "data")
    record = launch(rt, spec_from_config(rt.config, "files", {"chunkSize": 3, "concurrency": 1}),
                            driver="local")
    rid, old = record["id"], record["driver_token"]
    driver.drive_step(rt, rid, old)  # the "killed" driver got one chunk out
    store = batch_store(rt)
    new = batches.resume_batch(rt, rid, driver="local")["driver_token"]  # RUNNING -> taken over
    assert not store.add_chunk(rid, old, 1, "stale-run", ["zzz"], last=False)
    assert not store.add_chunk(rid, new, 0, "dup-number", ["zzz"], last=False)  # compare-and-set on the count
    final = drive_to_end(rt, rid, new)
    assert final["status"] == "SUCCESS" and processed_keys(rt, rid) == keys


class Crash(BaseException):
    """Stands for the driver process dying (not an error the driver handles)."""


def test_crash_between_recording_and_starting_a_chunk_is_repaired_with_the_same_run_id(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = make_tree(tmp_path / "data", 9)
    rt = runtime(tmp_path, db_url, data_dir=tmp_path / "data")
    record = launch(rt, spec_from_config(rt.config, "files", {"chunkSize": 3, "concurrency": 2}),
                            driver="local")
    rid, token = record["id"], record["driver_token"]
    real_start = rt.start_run
    calls = {"n": 0}

    def dying_start(*args: Any, **kwargs: Any) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash()  # chunk 1 is committed, its run never created
        return real_start(*args, **kwargs)

    monkeypatch.setattr(rt, "start_run", dying_start)
    with pytest.raises(Crash):
        driver.drive_step(rt, rid, token)
    monkeypatch.setattr(rt, "start_run", real_start)
    chunks = chunk_runs(rt, rid)
    assert [c["status"] for c in chunks] == ["RUNNING", "UNSTARTED"]
    lost_run_id = chunks[1]["run_id"]
    assert batches.batch_status(rt, rid)["chunks_unstarted"] == 1

    new = batches.resume_batch(rt, rid, driver="local")["driver_token"]
    driver.drive_step(rt, rid, new)
    repaired = chunk_runs(rt, rid)
    assert repaired[1]["run_id"] == lost_run_id and repaired[1]["status"] == "RUNNING"
    assert rt.store.get_run(lost_run_id)["payload"]["keys"] == keys[3:6]
    driver.drive_step(rt, rid, new)  # a chunk whose run exists is never started again
    assert rt.store.get_run(repaired[0]["run_id"])["attempt"] == 1
    final = drive_to_end(rt, rid, new)
    assert final["status"] == "SUCCESS" and processed_keys(rt, rid) == keys
    assert rt.store.list_runs(origin=f"batch:{rid}", limit=50)[1] == 3


def test_starting_the_same_chunk_twice_creates_one_run(tmp_path: Path, sqlite_url: str) -> None:
    make_tree(tmp_path / "data", 3)
    rt = runtime(tmp_path, sqlite_url, data_dir=tmp_path / "data")
    record = launch(rt, spec_from_config(rt.config, "files"), driver="local")
    driver.drive_step(rt, record["id"], record["driver_token"])
    chunk = batch_store(rt).chunks(record["id"])[0]
    spec = BatchSpec.from_record(batch_store(rt).get(record["id"]))
    driver._start_chunk(rt, spec, record["id"], Chunk(0, chunk["run_id"], ["x"]))  # a second driver racing
    assert rt.store.list_runs(origin=f"batch:{record['id']}")[1] == 1


# --------------------------------------------------------------------------------------------- failures
def test_failed_chunks_fail_the_batch_and_resume_can_retry_them(tmp_path: Path, db_url: str) -> None:
    make_tree(tmp_path / "data", 6)
    rt = runtime(tmp_path, db_url, data_dir=tmp_path / "data")
    record = launch(rt, spec_from_config(rt.config, "files", {"chunkSize": 2, "concurrency": 3}),
                            driver="local")
    rid, token = record["id"], record["driver_token"]
    driver.drive_step(rt, rid, token)
    finish_chunks(rt, rid, fail=frozenset({1}))
    driver.drive_step(rt, rid, token)
    failed = batches.batch_status(rt, rid)
    assert failed["status"] == "FAILED" and failed["chunks_failed"] == 1 and failed["chunks_succeeded"] == 2
    assert "1 of 3 chunk runs did not succeed" in failed["error"]

    resumed = batches.resume_batch(rt, rid, retry_failed=True, driver="local")
    assert resumed["status"] == "RUNNING" and resumed["error"] is None and resumed["chunks_running"] == 1
    final = drive_to_end(rt, rid, resumed["driver_token"])
    assert final["status"] == "SUCCESS" and final["chunks_succeeded"] == 3
    with pytest.raises(InvalidTransitionError):
        batches.resume_batch(rt, rid)
    with pytest.raises(InvalidTransitionError):
        batches.stop_batch(rt, rid)


def test_source_vanishing_mid_batch_fails_it_and_resume_continues_from_the_cursor(
    tmp_path: Path, sqlite_url: str
) -> None:
    data = tmp_path / "data"
    keys = make_tree(data, 8)
    rt = runtime(tmp_path, sqlite_url, data_dir=data)
    record = launch(rt, spec_from_config(rt.config, "files", {"chunkSize": 3, "concurrency": 1}),
                            driver="local")
    rid, token = record["id"], record["driver_token"]
    driver.drive_step(rt, rid, token)
    finish_chunks(rt, rid)
    data.rename(tmp_path / "moved")
    outcome = driver.drive_step(rt, rid, token)
    failed = batches.batch_status(rt, rid)
    assert not outcome.active and failed["status"] == "FAILED" and "does not exist" in failed["error"]
    assert failed["cursor"] == keys[2]
    (tmp_path / "moved").rename(data)
    final = drive_to_end(rt, rid, batches.resume_batch(rt, rid, driver="local")["driver_token"])
    assert final["status"] == "SUCCESS" and processed_keys(rt, rid) == keys


# --------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("overrides", "error", "text"),
    [
        ({"chunkSize": 0}, InvalidInputError, "chunk size must be an integer from 1"),
        ({"chunk_size": -3}, InvalidInputError, "chunk size"),
        ({"chunkSize": True}, InvalidInputError, "chunk size"),
        ({"concurrency": 0}, InvalidInputError, "concurrency"),
        ({"payloadKey": "chunk"}, InvalidInputError, "reserved"),
        ({"payloadKey": ""}, InvalidInputError, "payload key"),
        ({"payload": [1]}, InvalidInputError, "JSON object"),
        ({"bogus": 1}, InvalidInputError, "unknown batch override"),
        ({"generator": {"path": "/etc"}}, InvalidInputError, "cannot be overridden"),
        ({"generator": {"minSize": "big"}}, InvalidInputError, "min_size"),
        ({"generator": {"regex": "("}}, InvalidInputError, "regex"),
    ],
)
def test_bad_overrides_write_nothing(tmp_path: Path, sqlite_url: str, overrides: dict[str, Any],
                                     error: type[Exception], text: str) -> None:
    make_tree(tmp_path / "data", 2)
    rt = runtime(tmp_path, sqlite_url, data_dir=tmp_path / "data")
    with pytest.raises(error, match=text):
        batches.start_batch(rt, "files", overrides=overrides)
    assert batch_rows(rt) == 0


def test_bad_sources_and_names_write_nothing(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "afile").write_text("x")
    rt = runtime(tmp_path, db_url, data_dir=tmp_path / "missing")
    cases: list[tuple[Callable[[], Any], type[Exception], str]] = [
        (lambda: batches.start_batch(rt, "files"), NotFoundError, "does not exist"),
        (lambda: batches.start_batch(rt, "nope"), NotFoundError, "unknown batch 'nope'"),
        (lambda: batches.start_adhoc_batch(rt, "ghost", GeneratorConfig("local", {"path": str(tmp_path)})),
         NotFoundError, "unknown pipeline 'ghost'"),
        (lambda: batches.start_adhoc_batch(rt, "ingest", GeneratorConfig("local", {"path": str(tmp_path / "afile")})),
         InvalidInputError, "is not a directory"),
        (lambda: batches.start_adhoc_batch(rt, "ingest", GeneratorConfig("local", {"path": str(tmp_path)}),
                                           chunk_size=0), InvalidInputError, "chunk size"),
        (lambda: batches.start_adhoc_batch(rt, "ingest", GeneratorConfig("s3", {"prefix": "x"})),
         InvalidInputError, "needs option 'bucket'"),
        (lambda: batches.start_adhoc_batch(rt, "ingest", GeneratorConfig("ftp", {"path": "/"})),  # type: ignore[arg-type]
         InvalidInputError, "unknown generator type"),
    ]
    for call, error, text in cases:
        with pytest.raises(error, match=text):
            call()
    assert batch_rows(rt) == 0
    for call in (lambda: batches.batch_status(rt, "nope"), lambda: batches.resume_batch(rt, "nope"),
                 lambda: batches.stop_batch(rt, "nope"), lambda: batches.batch_chunks(rt, "nope")):
        with pytest.raises(NotFoundError, match="unknown batch run 'nope'"):
            call()


def test_chunk_payload_over_the_limit_is_refused_before_writing(tmp_path: Path, sqlite_url: str) -> None:
    make_tree(tmp_path / "data", 50)
    path, _ = write_config(tmp_path, data_dir=tmp_path / "data")
    settings = Settings(config_path=str(path), home=tmp_path / "home", database_url=sqlite_url,
                        max_payload_bytes=300)
    rt = Runtime.from_path(str(path), settings, register=False)
    with pytest.raises(InvalidInputError, match="over the 300-byte limit"):
        batches.start_batch(rt, "files")
    assert batch_rows(rt) == 0


def test_list_and_paging(tmp_path: Path, sqlite_url: str) -> None:
    make_tree(tmp_path / "data", 3)
    rt = runtime(tmp_path, sqlite_url, data_dir=tmp_path / "data")
    ids = [launch(rt, spec_from_config(rt.config, "files"), driver="local")["id"] for _ in range(3)]
    adhoc = batches.start_adhoc_batch(rt, "ingest", GeneratorConfig("local", {"path": str(tmp_path / "data")}),
                                      driver="local")
    items, total = batches.list_batch_runs(rt, 2, 0)
    assert total == 4 and [i["id"] for i in items] == [adhoc["id"], ids[2]]
    assert items[0]["batch_id"] is None and items[0]["origin"] == "cli"
    items, total = batches.list_batch_runs(rt, 10, 0, batch_id="files", status="running")
    assert total == 3 and {i["id"] for i in items} == set(ids)
    for bad in ((0, 0), (501, 0), (10, -1)):
        with pytest.raises(InvalidInputError):
            batches.list_batch_runs(rt, *bad)
    with pytest.raises(InvalidInputError, match="unknown status"):
        batches.list_batch_runs(rt, 10, 0, status="weird")


def test_repeated_start_with_the_same_run_id_starts_one_batch(tmp_path: Path, sqlite_url: str) -> None:
    make_tree(tmp_path / "data", 3)
    rt = runtime(tmp_path, sqlite_url, data_dir=tmp_path / "data")
    first = batches.start_batch(rt, "files", batch_run_id="fire-1")
    again = batches.start_batch(rt, "files", batch_run_id="fire-1")
    assert first["id"] == again["id"] == "fire-1" and batch_rows(rt) == 1
    assert again["driver_token"] != first["driver_token"]  # the repeat made sure a live driver owns it
    with pytest.raises(InvalidInputError, match="already used"):
        launch(rt, adhoc_spec("ingest", GeneratorConfig("local", {"path": str(tmp_path)})),
                       batch_run_id="fire-1")


def test_concurrent_starts_with_the_same_run_id_create_one_batch(tmp_path: Path, sqlite_url: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path / "data", 3)
    rt = runtime(tmp_path, sqlite_url, data_dir=tmp_path / "data")
    first = batches.start_batch(rt, "files", batch_run_id="fire-2")
    real_find = BatchStore.find
    calls = {"n": 0}

    def late_find(self: BatchStore, run_id: str) -> dict[str, Any] | None:
        calls["n"] += 1
        return None if calls["n"] == 1 else real_find(self, run_id)  # the other request had not committed yet

    monkeypatch.setattr(BatchStore, "find", late_find)
    second = batches.start_batch(rt, "files", batch_run_id="fire-2")
    assert second["id"] == "fire-2" and second["driver_token"] == first["driver_token"] and batch_rows(rt) == 1


# --------------------------------------------------------------------------------------------- S3 (moto server)
def test_s3_batch_over_moto(tmp_path: Path, sqlite_url: str, moto_endpoint: str,
                            make_bucket: Callable[..., str], bulk_put: Callable[[str, list[str]], None]) -> None:
    bucket = make_bucket()
    keys = sorted([f"in/{i:03d}.json" for i in range(60)] + ["other/x.json", "in/.DS_Store"])
    bulk_put(bucket, keys)
    rt = runtime(tmp_path, sqlite_url, bucket=bucket, endpoint=moto_endpoint)
    record = launch(rt, spec_from_config(rt.config, "bucket", {"generator": {"prefix": "in/"}}),
                            driver="local")
    final = drive_to_end(rt, record["id"], record["driver_token"])
    expected = [k for k in keys if k.startswith("in/") and not k.endswith(".DS_Store")]
    assert final["status"] == "SUCCESS" and final["chunks_dispatched"] == 3
    assert processed_keys(rt, record["id"]) == expected
    first = rt.store.get_run(chunk_runs(rt, record["id"])[0]["run_id"])
    assert first["payload"]["batch_source"] == {"type": "s3", "bucket": bucket, "endpoint_url": moto_endpoint,
                                                "region": "us-east-1"}


def test_s3_missing_bucket_and_denied_access_write_nothing(tmp_path: Path, sqlite_url: str, moto_endpoint: str,
                                                           make_bucket: Callable[..., str]) -> None:
    rt = runtime(tmp_path, sqlite_url, bucket="no-such-bucket-here", endpoint=moto_endpoint)
    with pytest.raises(NotFoundError, match="bucket 'no-such-bucket-here' does not exist"):
        batches.start_batch(rt, "bucket")
    bucket = make_bucket(["k1"])
    denied = runtime(tmp_path, sqlite_url, bucket=bucket, endpoint=moto_endpoint)
    _moto_auth(moto_endpoint, "0")  # IAM enforced: the fixture's fake credentials are unknown
    try:
        with pytest.raises(AccessDeniedError, match="access denied"):
            batches.start_batch(denied, "bucket")
    finally:
        _moto_auth(moto_endpoint, "inf")
    assert batch_rows(rt) == 0


def _moto_auth(endpoint: str, allowed_unauthenticated: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=allowed_unauthenticated.encode(),
                                     method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["status"] == "ok"


# --------------------------------------------------------------------------------------------- with a worker
@pytest.fixture
def worker_rt(tmp_path: Path, sqlite_url: str, redis_url: str) -> Iterator[tuple[Runtime, list[str]]]:
    """A registered runtime with 60 files and an in-process worker on Redis (unique queue)."""
    keys = make_tree(tmp_path / "data", 60)
    rt = runtime(tmp_path, sqlite_url, register=True, broker=redis_url, data_dir=tmp_path / "data")
    with rt.embedded_worker(concurrency=3):
        yield rt, keys


def _wait_terminal(rt: Runtime, batch_run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    return poll_until(lambda: batches.batch_status(rt, batch_run_id), lambda r: r["terminal"], timeout,
                      message=f"batch run {batch_run_id} finished")


def _recorded(redis_url: str, name: str) -> list[str]:
    import redis

    return [k.decode() for k in redis.Redis.from_url(redis_url).lrange(name, 0, -1)]


def test_worker_driver_runs_a_batch_started_like_http(worker_rt: tuple[Runtime, list[str]], redis_url: str) -> None:
    rt, keys = worker_rt
    name = f"rec-{os.getpid()}-{time.monotonic_ns()}"
    record = batches.start_batch(rt, "files", overrides={
        "chunkSize": 7, "payload": {"redis_url": redis_url, "record_list": name}})
    # Returned before the 9 chunk runs could all finish: the HTTP caller does not wait for the batch.
    assert record["status"] == "RUNNING" and record["driver"] == "worker" and record["chunks_succeeded"] < 9
    final = _wait_terminal(rt, record["id"])
    assert final["status"] == "SUCCESS" and final["chunks_dispatched"] == 9 and final["keys_listed"] == 60
    got = _recorded(redis_url, name)
    assert sorted(got) == keys and len(got) == len(keys)


def test_schedule_fire_starts_one_batch_per_fire(worker_rt: tuple[Runtime, list[str]], redis_url: str) -> None:
    from pypeline.scheduler.dispatch import Dispatcher, message_id
    from pypeline.scheduler.spec import parse_schedule
    from pypeline.store.models import utcnow

    rt, keys = worker_rt
    name = f"sched-{os.getpid()}-{time.monotonic_ns()}"
    spec = parse_schedule({"name": "files nightly", "task": "pypeline.batches.scheduled.start_batch", "every": 60,
                           "payload": {"batch": "files", "overrides": {
                               "payload": {"redis_url": redis_url, "record_list": name}}}})
    msg = message_id("files-nightly", utcnow())
    dispatcher = Dispatcher(rt)
    dispatcher.send("files-nightly", spec, msg)
    dispatcher.send("files-nightly", spec, msg, resend=True)  # a fire re-sent after a beat crash
    wait_until(lambda: batch_store(rt).find(msg) is not None, 10, message="the fire started a batch run")
    final = _wait_terminal(rt, msg)
    assert final["status"] == "SUCCESS" and final["origin"] == "schedule:files-nightly"
    assert batch_rows(rt) == 1 and sorted(_recorded(redis_url, name)) == keys


def test_task_runner_publishes_declared_tasks_only(worker_rt: tuple[Runtime, list[str]]) -> None:
    from pypeline.utils.task_utils import TaskRunner

    rt, _ = worker_rt
    path = "tests.e2e.batch_support.collect"
    before = len(collected())
    assert TaskRunner.publish_work(path, {"n": 1}, runtime=rt) is True
    assert TaskRunner.publish_work_in_batches(path, list(range(7)), grouping_key="items", max_per_task=3,
                                              runtime=rt) is True
    wait_until(lambda: len(collected()) >= before + 4, 10, message="four published tasks ran")
    events = collected()[before:]
    assert sorted(e.get("n", -1) for e in events) == [-1, -1, -1, 1]
    assert sorted(e["items"] for e in events if "items" in e) == [[0, 1, 2], [3, 4, 5], [6]]
    for call, text in [
        (lambda: TaskRunner.publish_work("os.system", {"cmd": "x"}, runtime=rt), "not a handler declared"),
        (lambda: TaskRunner.publish_work(path, {"x": object()}, runtime=rt), "not JSON-serialisable"),
        (lambda: TaskRunner.publish_work(path, [1], runtime=rt), "JSON object"),
        (lambda: TaskRunner.publish_work_in_batches(path, [1], max_per_task=0, runtime=rt), "positive integer"),
        (lambda: TaskRunner.publish_work_in_batches(path, "abc", runtime=rt), "must be a list"),
        (lambda: TaskRunner.publish_work(path, {}, max_ttl=0, runtime=rt), "max_ttl"),
    ]:
        with pytest.raises(PypelineError, match=text):
            call()

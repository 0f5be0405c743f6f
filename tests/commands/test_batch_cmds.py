"""`pypeline batch run|status|list|stop|resume` against Redis and an in-process worker."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pypeline.cli import cli
from pypeline.runtime import Runtime
from pypeline.settings import Settings
from tests.e2e.batch_support import write_config
from tests.helpers import poll_until


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def files(tmp_path: Path, redis_url: str, sqlite_url: str) -> dict[str, Any]:
    """20 files and the batch test config; CLI arguments for them."""
    data = tmp_path / "data"
    for i in range(20):
        (data / f"d{i % 2}").mkdir(parents=True, exist_ok=True)
        (data / f"d{i % 2}" / f"f{i:02d}.txt").write_text(str(i))
    config, _ = write_config(tmp_path, data_dir=data)
    return {"data": data, "config": config, "database": sqlite_url, "redis": redis_url, "home": tmp_path / "h",
            "args": ["--config", str(config), "--database", sqlite_url], "broker": ["--broker", redis_url]}


@pytest.fixture
def setup(files: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """`files`, with an in-process worker on Redis consuming the config's queue."""
    settings = Settings(config_path=str(files["config"]), broker_url=files["redis"], database_url=files["database"],
                        home=files["home"])
    worker = Runtime.from_path(str(files["config"]), settings)
    with worker.embedded_worker(concurrency=2):
        yield files


def test_run_foreground_adhoc_detached_then_status_and_list(setup: dict[str, Any]) -> None:
    args, broker = setup["args"], setup["broker"]
    code, out, err = _invoke("batch", "run", "files", *args, *broker, "--chunk-size", "6", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert (record["status"], record["keys_listed"], record["chunks_dispatched"]) == ("SUCCESS", 20, 4)

    code, out, err = _invoke("batch", "run", *args, *broker, "--pipeline", "ingest", "--local", str(setup["data"]),
                             "--include", "d0/*", "--json")
    adhoc = json.loads(out)
    assert code == 0 and adhoc["batch_id"] is None and adhoc["keys_listed"] == 10, err

    code, out, err = _invoke("batch", "run", "files", *args, *broker, "--detach")
    detached = out.strip()
    assert code == 0 and "handed to the workers" in err
    status = poll_until(lambda: json.loads(_invoke("batch", "status", detached, *args, "--chunks", "--json")[1]),
                        lambda s: s["terminal"], 20, interval=0.1, message="the detached batch finished")
    assert status["status"] == "SUCCESS" and [c["status"] for c in status["chunks"]] == ["SUCCESS"]
    assert status["chunks"][0]["key_count"] == 20

    code, out, _ = _invoke("batch", "status", record["id"], *args)
    assert code == 0 and "SUCCESS" in out and "4 dispatched" in out
    code, out, _ = _invoke("batch", "list", *args, "--json")
    assert code == 0 and json.loads(out)["total"] == 3
    code, out, _ = _invoke("batch", "list", *args, "--batch", "files")
    assert code == 0 and "2 batch run(s)" in out

    code, _, err = _invoke("batch", "stop", record["id"], *args)
    assert code == 1 and "cannot go from SUCCESS to PAUSED" in err
    code, _, err = _invoke("batch", "resume", "nope", *args, *broker)
    assert code == 1 and "unknown batch run 'nope'" in err


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        (["files", "--chunk-size", "0"], "chunk size must be an integer from 1"),
        (["nope"], "unknown batch 'nope'"),
        ([], "give a BATCH_ID declared in config"),
        (["files", "--pipeline", "ingest"], "not both"),
        (["--pipeline", "ingest", "--local", "/nonexistent-dir-xyz"], "does not exist"),
        (["--pipeline", "ingest", "--local", ".", "--s3", "b"], "exactly one source"),
        (["--pipeline", "ingest", "--local", ".", "--region", "eu-west-1"], "only apply to --s3"),
        (["files", "--payload", "{bad"], "payload is not valid JSON"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(files: dict[str, Any], extra: list[str], text: str) -> None:
    code, _, err = _invoke("batch", "run", *extra, *files["args"], *files["broker"])
    assert code == 1 and text in err and "Traceback" not in err
    code, out, _ = _invoke("batch", "list", *files["args"], "--json")
    assert json.loads(out)["total"] == 0

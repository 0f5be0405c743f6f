"""Per-node logs from a real `pypeline worker` process with the prefork pool (one capture per child process)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pypeline.services import invoke as invoke_service
from pypeline.services import logs as log_service
from tests.helpers import WorkerProcess
from tests.ops.support import make_runtime

pytestmark = pytest.mark.e2e


def test_prefork_worker_captures_each_nodes_output(tmp_path: Path, start_worker: Callable[..., WorkerProcess]) -> None:
    rt = make_runtime(tmp_path, f"sqlite:///{tmp_path / 'store.sqlite'}")
    rt.store  # migrate before the worker starts  # noqa: B018
    env = {"PYPELINE_HOME": str(rt.settings.home), "PYPELINE_DATABASE_URL": str(rt.settings.database_url)}
    worker = start_worker(rt.settings.config_path, "-P", "prefork", "-c", "2", env=env)
    runs = {m: invoke_service.invoke(rt, "chatty", {"marker": m, "lines": 20}) for m in ("p0", "p1", "p2")}
    for run_id in runs.values():
        assert rt.wait(run_id, 60)["status"] == "SUCCESS", worker.log()
    for marker, run_id in runs.items():
        text = "".join(item["text"] for item in log_service.run_logs(rt, run_id)["items"])
        for kind in ("out", "err", "log"):
            assert sum(f"{kind} {marker} " in line for line in text.splitlines()) == 20, (kind, text[-500:])
        assert not any(f" {m} " in text for m in runs if m != marker)

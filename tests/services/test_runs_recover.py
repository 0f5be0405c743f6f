"""Lost-message recovery: QUEUED nodes of running runs are re-published and the run completes once."""
from __future__ import annotations

from pathlib import Path

import pytest

from pypeline.config import load_config
from pypeline.errors import InvalidInputError
from pypeline.runtime import Runtime
from pypeline.services import runs as run_service
from pypeline.settings import Settings
from pypeline.store.repository import NodeSpec
from tests.helpers import EXAMPLE


def test_recover_republishes_a_lost_root_and_the_run_finishes(pypeline_home: Path) -> None:
    rt = Runtime(load_config(EXAMPLE), Settings.from_env())
    dag = rt.dag("diamond")
    specs = [NodeSpec(n, dag.node(n).handler, dag.node(n).queue, len(dag.predecessors(n))) for n in dag.nodes]
    # The run exists and its root is QUEUED, but its message was never published (lost).
    rt.store.create_run("lost-run", "diamond", specs, leaves=dag.leaves, payload={})
    assert run_service.recover_stalled(rt, older_than_s=3600) == {}  # too young to count as lost
    with rt.embedded_worker():
        assert run_service.recover_stalled(rt, older_than_s=0) == {"lost-run": ["a"]}
        run = rt.wait("lost-run", 30)
    assert run["status"] == "SUCCESS" and run["result"] == {"c": {"node": "c", "saw": ["a", "b"]}}
    assert [e["name"] for e in rt.store.events("lost-run")] == ["recovered"]
    assert all(n["attempts"] == 1 for n in rt.store.node_runs("lost-run"))
    assert run_service.recover_stalled(rt, older_than_s=0) == {}  # finished runs are left alone
    with pytest.raises(InvalidInputError):
        run_service.recover_stalled(rt, older_than_s=-1)

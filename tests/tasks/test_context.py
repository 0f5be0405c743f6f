"""Node context: custom run events emitted by a running node, read back by later nodes."""
from __future__ import annotations

import uuid

import pytest

from pypeline.errors import InvalidInputError, PypelineError
from pypeline.store import RunStore
from pypeline.store.repository import NodeSpec
from pypeline.tasks.context import NodeContext, current, emit, events, node_context


def test_emit_records_named_events_on_the_current_run(sqlite_url: str) -> None:
    store = RunStore(sqlite_url)
    run_id = str(uuid.uuid4())
    store.create_run(run_id, "p", [NodeSpec("a", "h", "q", 0)], leaves=["a"])
    with node_context(NodeContext(run_id, "p", "a", "2.1", store)):
        assert current().label == "a[2.1]"
        emit("progress", {"pct": 50})
        emit("done")
        seen = events()
        assert [(e["name"], e["node"], e["data"]) for e in seen] == [("progress", "a[2.1]", {"pct": 50}),
                                                                      ("done", "a[2.1]", None)]
        assert [e["name"] for e in events("done")] == ["done"]
        with pytest.raises(InvalidInputError, match="not JSON-serialisable"):
            emit("bad", {"x": object()})
        with pytest.raises(InvalidInputError, match="1-200 characters"):
            emit("")
        with pytest.raises(InvalidInputError, match="over the 64000-byte limit"):
            emit("big", "x" * 70_000)
    assert len(store.events(run_id)) == 2


def test_emit_outside_a_node_is_an_error() -> None:
    with pytest.raises(PypelineError, match="only work inside a pipeline node handler"):
        emit("progress")

"""The one state machine for runs and nodes."""
from __future__ import annotations

import pytest

from pypeline.errors import InvalidTransitionError
from pypeline.status import NODE_TRANSITIONS, RUN_TRANSITIONS, Status, allowed_sources, check_transition


def test_terminal_states_are_terminal() -> None:
    assert {s for s in Status if s.is_terminal} == {Status.SUCCESS, Status.FAILED, Status.SKIPPED, Status.CANCELLED}
    assert NODE_TRANSITIONS[Status.SUCCESS] == frozenset()
    assert RUN_TRANSITIONS[Status.SUCCESS] == frozenset()


@pytest.mark.parametrize(("cur", "tgt"), [
    (Status.PENDING, Status.QUEUED), (Status.QUEUED, Status.RUNNING), (Status.RUNNING, Status.SUCCESS),
    (Status.RUNNING, Status.RETRYING), (Status.RETRYING, Status.RUNNING), (Status.FAILED, Status.PENDING),
])
def test_allowed_node_transitions(cur: Status, tgt: Status) -> None:
    assert check_transition(cur, tgt, node=True) is tgt


@pytest.mark.parametrize(("cur", "tgt"), [
    (Status.SUCCESS, Status.RUNNING), (Status.PENDING, Status.SUCCESS), (Status.SKIPPED, Status.SUCCESS),
    (Status.QUEUED, Status.FAILED),
])
def test_forbidden_node_transitions(cur: Status, tgt: Status) -> None:
    with pytest.raises(InvalidTransitionError, match=f"{cur} to {tgt}"):
        check_transition(cur, tgt, node=True)


def test_run_cannot_leave_success_and_can_be_rerun_from_failed() -> None:
    with pytest.raises(InvalidTransitionError):
        check_transition("SUCCESS", "RUNNING", node=False)
    assert check_transition("FAILED", "RUNNING", node=False) is Status.RUNNING
    assert check_transition("RUNNING", "PAUSED", node=False) is Status.PAUSED


def test_allowed_sources_inverts_the_table() -> None:
    assert allowed_sources(Status.SUCCESS, node=True) == {Status.RUNNING}
    assert allowed_sources(Status.RUNNING, node=True) == {Status.QUEUED, Status.RUNNING, Status.RETRYING}

"""The one status state machine for runs and node runs; every transition goes through it."""
from __future__ import annotations

from enum import Enum

from pypeline.errors import InvalidTransitionError

__all__ = ["Status", "RUN_TRANSITIONS", "NODE_TRANSITIONS", "TERMINAL", "ACTIVE", "check_transition", "RunAction",
           "RUN_ACTIONS", "check_action"]


class Status(str, Enum):
    """States shared by runs and node runs."""

    PENDING = "PENDING"  # created, waiting for upstreams (node) or for dispatch (run)
    QUEUED = "QUEUED"  # message published, not yet started
    RUNNING = "RUNNING"
    RETRYING = "RETRYING"  # failed an attempt, a retry is scheduled
    PAUSED = "PAUSED"  # run only: no new node is dispatched
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"  # node only: upstream failed or filtered out
    CANCELLED = "CANCELLED"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        """True when nothing will change this status any more (short of a rerun)."""
        return self in TERMINAL


TERMINAL = frozenset({Status.SUCCESS, Status.FAILED, Status.SKIPPED, Status.CANCELLED})
ACTIVE = frozenset({Status.PENDING, Status.QUEUED, Status.RUNNING, Status.RETRYING, Status.PAUSED})

_S = Status
NODE_TRANSITIONS: dict[Status, frozenset[Status]] = {
    _S.PENDING: frozenset({_S.QUEUED, _S.SKIPPED, _S.CANCELLED}),
    # QUEUED -> QUEUED: a lost message is re-published.
    _S.QUEUED: frozenset({_S.QUEUED, _S.RUNNING, _S.SKIPPED, _S.CANCELLED}),
    # RUNNING -> RUNNING: a message redelivered after a worker died mid-node (only once the node's lease expired).
    # RUNNING/RETRYING -> QUEUED: the reconciler re-queues a node whose worker's lease expired.
    _S.RUNNING: frozenset({_S.RUNNING, _S.QUEUED, _S.RETRYING, _S.SUCCESS, _S.FAILED, _S.SKIPPED, _S.CANCELLED}),
    _S.RETRYING: frozenset({_S.RUNNING, _S.QUEUED, _S.FAILED, _S.CANCELLED}),
    # Rerun from failure: failed and skipped nodes go back to PENDING in a new attempt.
    _S.FAILED: frozenset({_S.PENDING}),
    _S.SKIPPED: frozenset({_S.PENDING}),
    _S.CANCELLED: frozenset({_S.PENDING}),
    _S.SUCCESS: frozenset(),
    _S.PAUSED: frozenset(),
}

RUN_TRANSITIONS: dict[Status, frozenset[Status]] = {
    _S.PENDING: frozenset({_S.RUNNING, _S.FAILED, _S.CANCELLED}),
    _S.RUNNING: frozenset({_S.PAUSED, _S.SUCCESS, _S.FAILED, _S.CANCELLED}),
    _S.PAUSED: frozenset({_S.RUNNING, _S.CANCELLED, _S.FAILED}),
    _S.FAILED: frozenset({_S.RUNNING}),  # rerun from failure
    _S.CANCELLED: frozenset({_S.RUNNING}),  # rerun after cancel
    _S.SUCCESS: frozenset(),
    # Waiting for a free slot of the pipeline's maxActiveRuns; PENDING once admitted.
    _S.QUEUED: frozenset({_S.PENDING, _S.CANCELLED, _S.FAILED}),
    _S.RETRYING: frozenset(),
    _S.SKIPPED: frozenset(),
}


def allowed_sources(target: Status, *, node: bool) -> frozenset[Status]:
    """Every status from which `target` may be reached, for guarded SQL updates."""
    table = NODE_TRANSITIONS if node else RUN_TRANSITIONS
    return frozenset(src for src, dsts in table.items() if target in dsts)


def check_transition(current: Status | str, target: Status | str, *, node: bool) -> Status:
    """Return `target` as a Status if `current -> target` is allowed, else raise."""
    cur, tgt = Status(current), Status(target)
    table = NODE_TRANSITIONS if node else RUN_TRANSITIONS
    if tgt not in table[cur]:
        kind = "node" if node else "run"
        raise InvalidTransitionError(f"{kind} cannot go from {cur} to {tgt}")
    return tgt


class RunAction(str, Enum):
    """What a user may ask of a run (CLI, API, dashboard, Python)."""

    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"

    def __str__(self) -> str:
        return self.value


#: The run statuses each action is allowed from; anything else is refused (CLI exit 1, API 409).
RUN_ACTIONS: dict[RunAction, frozenset[Status]] = {
    RunAction.CANCEL: frozenset({_S.QUEUED, _S.PENDING, _S.RUNNING, _S.PAUSED}),
    RunAction.PAUSE: frozenset({_S.RUNNING}),
    RunAction.RESUME: frozenset({_S.PAUSED}),
    RunAction.RETRY: frozenset({_S.FAILED, _S.CANCELLED}),
}


def check_action(current: Status | str, action: RunAction | str) -> None:
    """Raise InvalidTransitionError unless `action` is allowed on a run in status `current`."""
    cur, act = Status(current), RunAction(action)
    allowed = RUN_ACTIONS[act]
    if cur not in allowed:
        wanted = " or ".join(sorted(s.value for s in allowed))
        raise InvalidTransitionError(f"cannot {act} a {cur} run: {act} needs a {wanted} run")

"""Value types of the run store's node lifecycle: rows to create, claim and completion outcomes, finish plans."""
from __future__ import annotations

from dataclasses import dataclass, field

from pypeline.status import Status
from pypeline.store.rows import Pair

__all__ = ["NodeSpec", "ClaimOutcome", "CompletionOutcome", "Gate", "FinishPlan"]


@dataclass(frozen=True)
class NodeSpec:
    """A node row to create for a new run."""

    node: str
    handler: str
    queue: str | None
    upstreams: int
    instance: str = ""


@dataclass
class ClaimOutcome:
    """What a worker learns when it tries to start a node."""

    claimed: bool
    status: Status  # the node's status after the attempt
    attempts: int = 0


@dataclass
class CompletionOutcome:
    """What finishing (or failing) a node changed."""

    applied: bool  # False when the node was already finished (a redelivered message)
    #: True when this very delivery had recorded the same outcome already (its commit's reply was lost).
    already: bool = False
    ready: list[str] = field(default_factory=list)  # successors in the node's own instance to publish now
    requeue: list[str] = field(default_factory=list)  # successors queued but maybe never published
    run_status: Status | None = None  # set when this change finished the run
    skipped: list[str] = field(default_factory=list)
    #: Every (node, instance) row made ready by this change, in any instance: publish all of them.
    dispatch: list[Pair] = field(default_factory=list)


@dataclass(frozen=True)
class Gate:
    """A split with a concurrency cap: once `instance` has no unfinished row, its next held instance starts."""

    split: str
    split_instance: str  # the row of the split node ("" at the top level)
    instance: str  # the element instance whose rows may just have finished
    entries: tuple[str, ...]  # the nodes an element instance starts with (held back by one gate unit)


@dataclass
class FinishPlan:
    """Row changes that go with a node's terminal transition, applied in the same transaction."""

    #: (node, instance) -> upstream completions to count off; rows reaching 0 become ready.
    release: dict[Pair, int] = field(default_factory=dict)
    #: Rows to mark SKIPPED (only if not started yet).
    skip: list[Pair] = field(default_factory=list)
    #: Error recorded on skipped rows: why they were skipped (None: filtered out, which a rerun keeps).
    skip_error: str | None = None
    #: New rows (the instances of a split); those with no upstream left are ready at once.
    spawn: list[NodeSpec] = field(default_factory=list)
    #: (node, instance) -> upstream completions to wait for, set now (a split join learns its fan-in size).
    arm: dict[Pair, int] = field(default_factory=dict)
    #: Concurrency caps to check after the change.
    gates: list[Gate] = field(default_factory=list)

    @property
    def release_only(self) -> bool:
        """True when the plan only counts off successors (the hot path: one statement on PostgreSQL)."""
        return not (self.skip or self.spawn or self.arm or self.gates)

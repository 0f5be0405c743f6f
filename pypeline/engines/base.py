"""The Engine interface every orchestration engine implements, and what it needs from the runtime."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

from celery import Celery

from pypeline.config.model import PipelineConfig, PypelineConfig
from pypeline.dag import PipelineDag
from pypeline.errors import InvalidInputError
from pypeline.settings import Settings
from pypeline.status import Status
from pypeline.store.repository import RunStore
from pypeline.tasks.chained import NodeRunner

__all__ = ["Engine", "EngineRuntime", "publish_retry_policy"]


def publish_retry_policy(budget_s: float) -> dict[str, float]:
    """kombu's publish retry policy retrying for about `budget_s` seconds (0 s, 0.5 s, 1 s, ... then every 2 s).

    A broker restart of a few seconds then delays a node's successors instead of losing their messages.
    """
    steps, waited = 0, 0.0
    while waited < budget_s:
        steps += 1
        waited += min(0.5 * steps, 2.0)
    return {"max_retries": max(steps, 1), "interval_start": 0.0, "interval_step": 0.5, "interval_max": 2.0}


class EngineRuntime(Protocol):
    """The services an engine uses: Celery app, config, DAGs, store and run notifications."""

    celery: Celery
    settings: Settings

    @property
    def config(self) -> PypelineConfig:
        """The loaded config."""

    @property
    def store(self) -> RunStore:
        """The run store."""

    def dag(self, pipeline_id: str) -> PipelineDag:
        """The (cached) DAG of a pipeline."""

    def notify_run_finished(self, run_id: str, status: Status, *, event: str | None = None) -> None:
        """Wake up anyone waiting on the run (`event`: a more specific outcome for notifications)."""


class Engine(ABC):
    """Starts and controls pipeline runs; records everything in the run store."""

    name: ClassVar[str]
    #: Features this engine can run (checked again at validation for engine-specific configs).
    supports_run_control: ClassVar[bool] = False

    def __init__(self, runtime: EngineRuntime) -> None:
        self.rt = runtime

    @abstractmethod
    def start(self, pipeline: PipelineConfig, payload: Any, *, run_id: str, origin: str | None = None) -> str:
        """Create the run in the store and dispatch its first nodes; returns the run id."""

    @property
    def runner(self) -> NodeRunner | None:
        """The node runner workers use for this engine's messages (None if it uses plain tasks)."""
        return None

    def cancel(self, run_id: str) -> None:
        """Cancel a run: unstarted nodes never start, running ones are revoked."""
        task_ids = self.rt.store.cancel_run(run_id)
        if task_ids:
            self.rt.celery.control.revoke(task_ids, terminate=True, signal="SIGTERM")
        self.rt.notify_run_finished(run_id, Status.CANCELLED)

    def republish(self, run_id: str, rows: Sequence[tuple[str, str]]) -> None:
        """Publish queued (node, instance) rows again after their messages were lost."""
        raise InvalidInputError(f"engine {self.name!r} cannot re-publish nodes")

    def pause(self, run_id: str) -> None:
        """Stop dispatching new nodes of a run."""
        raise InvalidInputError(f"engine {self.name!r} cannot pause runs")

    def resume(self, run_id: str) -> None:
        """Dispatch the nodes that became ready while a run was paused."""
        raise InvalidInputError(f"engine {self.name!r} cannot resume runs")

    def rerun(self, run_id: str) -> None:
        """Run a failed run again, executing only failed and skipped nodes."""
        raise InvalidInputError(f"engine {self.name!r} cannot rerun from failure")

"""The original's run objects over the run store: PipelineRunWrapper, PipelineResult, PipelineGenerator.

The original kept a run's config, payload and retry count in Redis keys with a TTL; here the run store is
the truth, so a wrapper is a read of the run's record and never expires while the run is kept.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

import networkx as nx
from celery.canvas import Signature
from celery.result import AsyncResult

from pypeline.compat.current import default_runtime
from pypeline.compat.graph import get_execution_graph
from pypeline.errors import InvalidInputError, NotFoundError, PypelineError
from pypeline.runtime import Runtime
from pypeline.services import runs as run_service
from pypeline.status import Status

__all__ = ["PipelineRunWrapper", "PipelineResult", "PipelineGenerator", "RunStarter", "chain_helper",
           "get_task_signature", "get_service_config_for_worker", "RESULT_STATUSES", "result_status"]

log = logging.getLogger(__name__)

#: The original's result statuses.
RESULT_STATUSES = ("pending", "success", "failed", "unavailable")
#: Run event holding a result saved with `PipelineResult.save()`.
RESULT_EVENT = "pipeline_result"


def result_status(status: Status) -> str:
    """The original's result status for a run status."""
    if status is Status.SUCCESS:
        return "success"
    if status in (Status.FAILED, Status.CANCELLED):
        return "failed"
    return "pending"


def _pipeline_config(rt: Runtime, pipeline_id: str) -> dict[str, Any]:
    return dict(rt.config.pipeline(pipeline_id).raw.get("config") or {})


class PipelineRunWrapper:
    """One run of a pipeline as the original exposed it (`from_event(event)` inside a node)."""

    def __init__(
        self,
        pipeline_id: str,
        pipeline_config: dict[str, Any] | None = None,
        execution_id: str | None = None,
        max_ttl: int = 60,
        max_retry: int = 3,
        chain_payload: Any = None,
        current_event: dict[str, Any] | None = None,
        *,
        runtime: Runtime | None = None,
    ) -> None:
        self.rt = default_runtime(runtime)
        self.pipeline_id = pipeline_id
        self.pipeline_config = pipeline_config
        self.execution_id = execution_id or str(uuid.uuid4())
        self.max_ttl = max_ttl
        self.max_retry = max_retry
        self.retry_count = 0
        self.chain_payload = chain_payload if chain_payload is not None else {}
        self.current_event = current_event if current_event is not None else {}
        self.celery_task_status: list[dict[str, Any]] | None = None
        self.dag_config: dict[str, Any] | None = None
        self.execution_graph: nx.DiGraph[str] | None = None
        self.good_to_go = True
        self.loading_message: Any = None

    @classmethod
    def from_event(cls, event: dict[str, Any], *, runtime: Runtime | None = None) -> PipelineRunWrapper:
        """The wrapper of the run a node's `event` belongs to, loaded from the store."""
        # no pipeline_id: the load fails softly (good_to_go False, loading_message says why), as before
        wrapper = cls(pipeline_id=str(event.get("pipeline_id") or ""), execution_id=event.get("execution_id"),
                      current_event=event, runtime=runtime)
        wrapper.load()
        return wrapper

    def load(self, verify_retry_count: bool = True, allow_deadletter: bool = True, is_retry: bool = False) -> None:
        """Fill config, payload, retry count and node statuses from the store (or the config for a new run)."""
        try:
            self.pipeline_config = self.pipeline_config or _pipeline_config(self.rt, self.pipeline_id)
            self.dag_config = self.pipeline_config.get("dagAdjacency", {})
            self.execution_graph = get_execution_graph(self.pipeline_config)
            metadata = self.pipeline_config.get("metadata") or {}
            self.max_ttl = int(metadata.get("maxTtl", self.max_ttl))
            self.max_retry = int(metadata.get("maxRetry", self.max_retry))
            try:
                run = self.rt.store.get_run(self.execution_id)
            except NotFoundError:
                run = None  # not invoked yet
            if run is not None:
                self.chain_payload = run["payload"] if run["payload"] is not None else {}
                self.retry_count = max(int(run.get("attempt") or 1) - 1, 0)
                self.celery_task_status = [
                    {"name": n["node"], "task_id": n.get("task_id"), "status": n["status"],
                     "retries": n.get("retries", 0)} for n in self.rt.store.node_runs(self.execution_id)]
            if is_retry:
                self.increment_retry()
            if verify_retry_count and self.retry_exceeded:
                self.loading_message = (f"Attempted to retry {self.pipeline_id}_{self.execution_id}; "
                                        "exceeded retry count.")
                if allow_deadletter:
                    self.deadletter()
                return
        except PypelineError as exc:
            log.warning("could not load run %s of %s: %s", self.execution_id, self.pipeline_id, exc)
            self.loading_message = exc
            self.good_to_go = False
            return
        self.loading_message = "Loaded Successfully."

    def save_to_cache(self) -> None:
        """Nothing to save: the run store records every change as it happens (kept for old callers)."""

    def get_task_celery_status(self, task_id: str) -> dict[str, Any] | None:
        """The status record of one node task of this run, by Celery task id."""
        for item in self.celery_task_status or []:
            if item["task_id"] == task_id:
                return item
        return None

    def increment_retry(self, exceed_max: bool = False) -> None:
        """Count one more retry (or jump past the limit with `exceed_max`)."""
        self.retry_count = self.max_retry if exceed_max else self.retry_count + 1

    @property
    def retry_exceeded(self) -> bool:
        """True once the run used up its retries."""
        return self.retry_count >= self.max_retry > 0

    def deadletter(self) -> None:
        """Give up on the run: cancel what is still active; its result reads `failed`."""
        self.good_to_go = False
        try:
            if not self.rt.store.run_status(self.execution_id).is_terminal:
                run_service.cancel_run(self.rt, self.execution_id)
        except NotFoundError:
            pass


class PipelineResult:
    """The result of a run (`execution_id`), read from the run store; `save()` records an override."""

    def __init__(self, execution_id: str, status: str | None = None, result: Any = None,
                 result_ttl: int = 86400, *, runtime: Runtime | None = None) -> None:
        if status is not None and status not in RESULT_STATUSES:
            raise InvalidInputError(f"status must be one of {RESULT_STATUSES}, got {status!r}")
        self.rt = default_runtime(runtime)
        self.execution_id = execution_id
        self.status = status
        self.result = result
        self.result_ttl = result_ttl

    @classmethod
    def from_event(cls, event: dict[str, Any], *, runtime: Runtime | None = None) -> PipelineResult:
        """The result of the run a node's `event` belongs to, loaded."""
        result = cls(event["execution_id"], runtime=runtime)
        result.load()
        return result

    def save(self, status: str | None = None, result: Any = None) -> None:
        """Record a status/result for this run as a run event (the run's own status stays the engine's)."""
        if status is not None:
            if status not in RESULT_STATUSES:
                raise InvalidInputError(f"status must be one of {RESULT_STATUSES}, got {status!r}")
            self.status = status
        if result is not None:
            self.result = result
        run_service.emit_event(self.rt, self.execution_id, RESULT_EVENT, {"status": self.status, "result": self.result})

    def load(self) -> None:
        """Status and result from the store: a saved override wins, else the run's own; `unavailable` if unknown."""
        try:
            run = self.rt.store.get_run(self.execution_id)
        except NotFoundError:
            self.status, self.result = "unavailable", None
            return
        saved = self.rt.store.events(self.execution_id, RESULT_EVENT)
        if saved and isinstance(saved[-1].get("data"), dict):
            data = saved[-1]["data"]
            self.status = data.get("status") or result_status(Status(run["status"]))
            self.result = data.get("result", run["result"])
            return
        self.status, self.result = result_status(Status(run["status"])), run["result"]

    def to_dict(self) -> dict[str, Any]:
        """The original's response shape (`results` duplicates `result`)."""
        return {"execution_id": self.execution_id, "status": self.status, "result": self.result,
                "results": self.result, "result_ttl": self.result_ttl}


class RunStarter:
    """What the original's `gen.chain` was: `apply_async()`/`delay()` start the run."""

    def __init__(self, rt: Runtime, pipeline_id: str, execution_id: str, payload: Any) -> None:
        self.rt = rt
        self.pipeline_id = pipeline_id
        self.execution_id = execution_id
        self.payload = payload

    def apply_async(self, *_: Any, **__: Any) -> AsyncResult:
        """Start the run; the AsyncResult (id = execution id) is ready when the run ends (Redis backends)."""
        self.rt.start_run(self.pipeline_id, self.payload, origin="compat", run_id=self.execution_id)
        return self.rt.celery.AsyncResult(self.execution_id)

    def delay(self) -> AsyncResult:
        """Same as `apply_async()`."""
        return self.apply_async()


class PipelineGenerator:
    """The original's chain builder; `generate_chain()` prepares a run that `.chain.apply_async()` starts."""

    def __init__(self, pipeline_id: str, access_key: str | None = None, execution_id: str | None = None,
                 queue: str | None = None, default_task_ttl: int | None = None, regulator_queue: str | None = None,
                 regulator_task: str | None = None, success_queue: str | None = None,
                 success_task: str | None = None, default_max_retry: int | None = None,
                 retry_backoff: int | None = None, retry_jitter: bool | None = None,
                 retry_backoff_max: int | None = None, chain_payload: Any = None, *,
                 runtime: Runtime | None = None) -> None:
        # Queues, TTLs and retries come from the pipeline's config; the per-call overrides are not honoured.
        self.rt = default_runtime(runtime)
        self.pipeline_id = pipeline_id
        self.access_key = access_key
        self.execution_id = execution_id or str(uuid.uuid4())
        self.chain_payload = chain_payload if chain_payload is not None else {}
        self.chain: RunStarter | None = None
        self.pipeline_wrapper = PipelineRunWrapper(pipeline_id, execution_id=self.execution_id,
                                                   chain_payload=self.chain_payload, runtime=self.rt)
        self.pipeline_wrapper.load(verify_retry_count=False, allow_deadletter=False)
        self.good_to_go = self.pipeline_wrapper.good_to_go
        self.loading_message = self.pipeline_wrapper.loading_message

    def generate_chain(self) -> RunStarter | None:
        """The object whose `apply_async()` starts the run (None when the pipeline could not be loaded)."""
        if not self.good_to_go:
            return None
        self.chain = RunStarter(self.rt, self.pipeline_id, self.execution_id, self.chain_payload)
        return self.chain


def chain_helper(pipeline_id: str, access_key: str | None = None, chain_payload: Any = None,
                 queue: str | None = None, default_task_ttl: int | None = None, *,
                 runtime: Runtime | None = None) -> PipelineGenerator:
    """A generator for `pipeline_id` with its chain ready: `chain_helper(...).chain.apply_async()` starts a run."""
    gen = PipelineGenerator(pipeline_id, access_key=access_key, queue=queue, default_task_ttl=default_task_ttl,
                            chain_payload=chain_payload, runtime=runtime)
    if gen.good_to_go:
        gen.generate_chain()
    return gen


def get_task_signature(task_path: str, queue: str | None, access_key: str | None = None,
                       pipeline_id: str | None = None, execution_id: str | None = None,
                       max_ttl: int | None = None, immutable: bool = True,
                       task_config: dict[str, Any] | None = None,
                       custom_event_data: dict[str, Any] | None = None, *,
                       runtime: Runtime | None = None) -> Signature:
    """A Celery signature for a declared handler with the original's `event` kwarg and time limits."""
    rt = default_runtime(runtime)
    task_config = task_config or {}
    if rt.has_config and task_path not in rt.config.handlers:
        raise InvalidInputError(f"task {task_path!r} is not a handler declared in config")
    queue = queue or task_config.get("queue")
    if queue is None or queue == "default":
        raise InvalidInputError(f"Must set queue for a worker or registeredTask ({task_path}).")
    ttl = int(max_ttl or task_config.get("maxTtl") or 60)
    task_id = str(uuid.uuid4())
    event = {"access_key": access_key, "pipeline_id": pipeline_id, "execution_id": execution_id,
             "task_id": task_id, **(custom_event_data or {})}
    return rt.celery.signature(task_path, kwargs={"event": event}, queue=queue, expires=86400,
                               soft_time_limit=ttl, time_limit=ttl + 10, task_id=task_id, immutable=immutable)


def get_service_config_for_worker(sermos_config: dict[str, Any] | None = None,
                                  worker_name: str | None = None) -> dict[str, Any] | None:
    """The `serviceConfig` entry for `worker_name` (default `PYPELINE_SERVICE`/`WORKER_NAME`), or None."""
    if sermos_config is None:
        sermos_config = default_runtime().config.raw
    worker_name = worker_name or default_runtime().settings.service
    if worker_name is None:
        return None
    for service in sermos_config.get("serviceConfig", []):
        if service.get("name") == worker_name:
            return dict(service)
    raise InvalidInputError(f"no serviceConfig entry named {worker_name!r}; add one with `name: {worker_name}`")

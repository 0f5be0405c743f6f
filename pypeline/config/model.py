"""Typed, validated config objects: what every other layer reads instead of raw YAML dicts."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pypeline.config.batch_defaults import DEFAULT_CHUNK_SIZE, DEFAULT_KEY_FIELD, DEFAULT_MAX_IN_FLIGHT

__all__ = [
    "RetryPolicy",
    "NodeConfig",
    "PipelineConfig",
    "ServiceConfig",
    "ScheduleConfig",
    "GeneratorConfig",
    "BatchConfig",
    "PypelineConfig",
    "DEFAULT_QUEUE",
]

DEFAULT_QUEUE = "celery"

EngineName = Literal["event", "dyrygent"]


@dataclass(frozen=True)
class RetryPolicy:
    """How a failing node is retried (original metadata keys maxRetry/retryBackoff/...)."""

    max_retry: int = 3
    backoff: int = 3  # seconds; base of the exponential backoff
    jitter: bool = False
    backoff_max: int = 600  # seconds

    def countdown(self, retries: int, rand: float = 0.5) -> float:
        """Seconds to wait before retry number `retries + 1` (0-based `retries`)."""
        delay = min(float(self.backoff) * (2.0 ** retries), float(self.backoff_max))
        if self.jitter:
            delay = delay * (0.5 + rand / 2)  # "equal jitter": keep at least half the backoff
        return max(delay, 0.0)


@dataclass(frozen=True)
class NodeConfig:
    """One node of a pipeline DAG (`taskDefinitions.<name>` merged with pipeline metadata)."""

    name: str
    handler: str
    queue: str = DEFAULT_QUEUE
    max_ttl: int = 60  # soft time limit, s; hard limit is max_ttl + 10
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    priority: int | None = None
    #: Our additions (issue 4): dynamic fan-out, drop marker, keyed join.
    split: bool = False
    split_concurrency: int | None = None
    filter: bool = False
    join_key: str | None = None
    #: Sub-pipeline (issue 14): id of the pipeline this node starts as a child run (its handler is built in).
    pipeline: str | None = None

    @property
    def hard_time_limit(self) -> int:
        """Hard time limit in seconds (soft + 10, as in the original)."""
        return self.max_ttl + 10

    @property
    def runs(self) -> str:
        """What the node runs, for people: `pipeline <id>` for a sub-pipeline node, else its handler path."""
        return f"pipeline {self.pipeline}" if self.pipeline else self.handler


@dataclass(frozen=True)
class PipelineConfig:
    """A pipeline: its nodes, its edges and its defaults."""

    id: str
    name: str
    nodes: dict[str, NodeConfig]
    edges: tuple[tuple[str, str], ...]
    description: str | None = None
    schema_version: int = 1
    queue: str = DEFAULT_QUEUE
    processor_queue: str = DEFAULT_QUEUE  # dyrygent workflow_processor queue
    engine: EngineName = "event"
    #: Run-level timeout (`maxRunTtl`, s): a run still active after it ends FAILED (None: no limit).
    max_run_ttl: int | None = None
    #: Optional JSON Schema that `chain_payload` must satisfy on invoke.
    payload_schema: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: Most runs active at once (`maxActiveRuns`); None: no limit.
    max_active_runs: int | None = None
    #: What an invocation beyond the limit does: "queue", "skip" or "fail" (`onLimit`).
    on_limit: str = "queue"
    #: Run notifications (`notify`), a pypeline.config.ops.NotifyConfig; None: none.
    notify: Any = None


@dataclass(frozen=True)
class ServiceConfig:
    """A `serviceConfig` entry: a worker service and the handlers it registers."""

    name: str
    handlers: tuple[str, ...]
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ScheduleConfig:
    """A `scheduledTasks` entry, normalised."""

    id: str
    name: str
    enabled: bool
    schedule_type: Literal["interval", "crontab"]
    #: Exactly one of task (a declared handler path) or pipeline (a declared pipeline id).
    task: str | None = None
    pipeline: str | None = None
    queue: str | None = None
    exchange: str | None = None
    routing_key: str | None = None
    expires: int | None = None
    interval_seconds: float | None = None
    #: crontab fields in Celery order: minute, hour, day_of_week, day_of_month, month_of_year
    crontab: dict[str, str] | None = None
    timezone: str = "UTC"
    payload: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: Tags given to every run this schedule starts.
    tags: tuple[str, ...] = ()

    @property
    def cron_expression(self) -> str | None:
        """The five-field cron string (minute hour day-of-month month day-of-week) for croniter."""
        if not self.crontab:
            return None
        c = self.crontab
        return f"{c['minute']} {c['hour']} {c['day_of_month']} {c['month_of_year']} {c['day_of_week']}"


@dataclass(frozen=True)
class GeneratorConfig:
    """Where a batch's keys come from (`batches.<id>.generator`)."""

    type: Literal["s3", "local"]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchConfig:
    """A `batches` entry: a key generator feeding a pipeline in chunks."""

    id: str
    pipeline: str
    generator: GeneratorConfig
    chunk_size: int = DEFAULT_CHUNK_SIZE
    concurrency: int = DEFAULT_MAX_IN_FLIGHT
    payload_key: str = DEFAULT_KEY_FIELD


@dataclass(frozen=True)
class PypelineConfig:
    """A whole validated config file."""

    path: str
    services: tuple[ServiceConfig, ...]
    pipelines: dict[str, PipelineConfig]
    schedules: dict[str, ScheduleConfig] = field(default_factory=dict)
    batches: dict[str, BatchConfig] = field(default_factory=dict)
    api_config: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def pipeline(self, pipeline_id: str) -> PipelineConfig:
        """The pipeline with this id, or NotFoundError."""
        from pypeline.errors import NotFoundError

        try:
            return self.pipelines[pipeline_id]
        except KeyError:
            raise NotFoundError(f"unknown pipeline {pipeline_id!r}; declared: {sorted(self.pipelines)}") from None

    @property
    def handlers(self) -> tuple[str, ...]:
        """Every declared handler path: registered tasks, pipeline nodes and scheduled tasks, in order."""
        seen: dict[str, None] = {}
        for service in self.services:
            seen.update(dict.fromkeys(service.handlers))
        for pipe in self.pipelines.values():
            seen.update(dict.fromkeys(n.handler for n in pipe.nodes.values()))
        for sched in self.schedules.values():
            if sched.task:
                seen[sched.task] = None
        return tuple(seen)

    def handlers_for_service(self, service: str | None) -> tuple[str, ...]:
        """Handlers a worker registers: all by default, one serviceConfig entry's when named."""
        if service is None:
            return self.handlers
        from pypeline.errors import NotFoundError

        for entry in self.services:
            if entry.name == service:
                builtin = {n.handler for p in self.pipelines.values() for n in p.nodes.values() if n.pipeline}
                return (*entry.handlers, *sorted(builtin - set(entry.handlers)))  # sub-pipeline nodes' task
        raise NotFoundError(f"unknown service {service!r}; declared: {[s.name for s in self.services]}")

    def queues(self) -> tuple[str, ...]:
        """Every queue the config names (nodes, pipelines, processors, schedules)."""
        seen: dict[str, None] = {}
        for pipe in self.pipelines.values():
            seen[pipe.queue] = None
            for node in pipe.nodes.values():
                seen[node.queue] = None
            if pipe.engine == "dyrygent":
                seen[pipe.processor_queue] = None
        for sched in self.schedules.values():
            if sched.queue:
                seen[sched.queue] = None
        return tuple(seen) or (DEFAULT_QUEUE,)

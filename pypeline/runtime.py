"""The composition root: config + settings + Celery app + run store + engines, shared by every entry point."""
from __future__ import annotations

import importlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import AsyncResult
from celery.signals import worker_process_init
from kombu.entity import Queue
from kombu.exceptions import OperationalError as KombuOperationalError

from pypeline.config import load_config
from pypeline.config.model import PipelineConfig, PypelineConfig
from pypeline.dag import PipelineDag
from pypeline.engines import signals  # noqa: F401 - node failure handler, connected before a worker forks
from pypeline.engines.dataflow import dataflow_issues
from pypeline.errors import ConfigError, PypelineError, RunTimeoutError
from pypeline.settings import Settings, get_settings
from pypeline.status import Status
from pypeline.store.db import dispose_engines
from pypeline.store.repository import RunStore
from pypeline.store.tags import normalize_tags
from pypeline.tasks.allowlist import restrict_worker_tasks
from pypeline.tasks.app import attach_runtime, create_celery_app
from pypeline.tasks.chained import NodeRunner
from pypeline.tasks.registry import register_handlers

if TYPE_CHECKING:
    from pypeline.engines.base import Engine
    from pypeline.engines.limits import RunLauncher

__all__ = ["Runtime", "worker_queues"]

log = logging.getLogger(__name__)

#: Module defining the built-in `pypeline.batch_driver` task (pypeline.batches.tasks, a layer above the runtime).
BATCH_DRIVER_MODULE = "pypeline.batches.tasks"
#: Name of that task (pypeline.batches.driver.DRIVER_TASK): any pipeline may be batched, so workers keep it.
BATCH_DRIVER_TASK = "pypeline.batch_driver"
#: Module defining the built-in `pypeline.notify_run` task (see pypeline.tasks.notify).
NOTIFY_MODULE = "pypeline.tasks.notify"
#: Name of that task: any pipeline may declare `notify`, so workers keep it.
NOTIFY_TASK = "pypeline.notify_run"
#: The worker bootstep running the lease heartbeat and the reconciler, by name: Celery imports it only when a
#: worker starts, so beat, the CLI and the API never load the reconciler.
RECONCILER_STEP = "pypeline.reconciler.worker:ReconcilerStep"
#: Engine name -> "module:class"; each is imported and built on first use (a beat or the API that never
#: starts a run of an engine never loads it). `dyrygent` needs the optional celery-dyrygent extra.
ENGINE_CLASSES = {"event": "pypeline.engines.eventdriven:EventDrivenEngine",
                  "dyrygent": "pypeline.engines.dyrygent:DyrygentEngine"}


def worker_queues(config: PypelineConfig) -> list[str]:
    """Queues a worker consumes by default: every queue the config names, then Celery's default `celery`."""
    names = list(config.queues())
    return names if "celery" in names else [*names, "celery"]


def _reset_after_fork(**_: Any) -> None:
    """A forked pool process must not reuse the parent's database connections."""
    dispose_engines()


worker_process_init.connect(_reset_after_fork, weak=False)


class Engines(Mapping[str, "Engine"]):
    """The runtime's engines by name, each imported and built on first lookup; missing extras are absent."""

    def __init__(self, runtime: Runtime, classes: Mapping[str, str] = ENGINE_CLASSES) -> None:
        self._rt = runtime
        self._classes = dict(classes)
        self._built: dict[str, Engine] = {}
        self._missing: set[str] = set()

    def __getitem__(self, name: str) -> Engine:
        engine = self._built.get(name)
        if engine is not None:
            return engine
        if name not in self._classes or name in self._missing:
            raise KeyError(name)
        module, _, attr = self._classes[name].partition(":")
        try:
            cls: Callable[[Runtime], Engine] = getattr(importlib.import_module(module), attr)
        except ImportError:  # an optional extra (celery-dyrygent) is not installed
            self._missing.add(name)
            raise KeyError(name) from None
        built = self._built[name] = cls(self._rt)
        return built

    def __iter__(self) -> Iterator[str]:
        return iter([name for name in self._classes if name in self])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @property
    def built(self) -> list[str]:
        """Names of the engines built so far (introspection and footprint tests)."""
        return list(self._built)


class Runtime:
    """Everything a worker, the CLI, beat or the API needs, built once per process."""

    def __init__(
        self,
        config: PypelineConfig | None,
        settings: Settings | None = None,
        *,
        service: str | None = None,
        register: bool = True,
    ) -> None:
        self.settings = settings or get_settings()
        self._config = config
        self.celery: Celery = create_celery_app(self.settings)
        attach_runtime(self.celery, self)  # how tasks, signals and beat find it: runtime_of(app)
        if RECONCILER_STEP not in self.celery.steps["worker"]:  # every worker heartbeats leases, may reconcile
            self.celery.steps["worker"].add(RECONCILER_STEP)
        if config is not None:
            # Workers import the built-in batch driver task at start-up (by name: it sits in an upper layer).
            self.celery.conf.imports = (*self.celery.conf.imports, BATCH_DRIVER_MODULE, NOTIFY_MODULE)
            # A worker started without -Q (`celery -A pypeline.celery worker`) consumes every declared queue.
            self.celery.conf.task_queues = [Queue(name) for name in worker_queues(config)]
        self._dags: dict[str, PipelineDag] = {}
        self.engines: Engines = Engines(self)
        self.task_names: list[str] = []
        if config is not None:
            issues = dataflow_issues(config)
            if issues:
                raise ConfigError(issues)
        if config is not None and register:
            self.task_names = register_handlers(self.celery, config, service or self.settings.service)
            if any(p.engine == "dyrygent" for p in config.pipelines.values()):
                self.engines.get("dyrygent")  # registers its processor task before a worker forks its pool
        if register:
            restrict_worker_tasks(self.celery, self.worker_task_names,
                                  allow_builtins=self.settings.allow_builtin_tasks)

    def worker_task_names(self) -> set[str]:
        """Tasks a worker of this runtime executes: declared handlers and the internal tasks the config uses."""
        names = set(self.task_names)
        if self._config is None:
            return names
        names.update((BATCH_DRIVER_TASK, NOTIFY_TASK))
        if any(p.engine == "dyrygent" for p in self._config.pipelines.values()):  # else: do not import it
            dyrygent = self.engines.get("dyrygent")
            if dyrygent is not None:
                names.add(dyrygent.processor.name)  # type: ignore[attr-defined]
        return names

    @classmethod
    def from_path(cls, path: str, settings: Settings | None = None, **kwargs: Any) -> Runtime:
        """Load and validate a config file, then build the runtime for it."""
        return cls(load_config(path), settings, **kwargs)

    @classmethod
    def from_env(cls, **kwargs: Any) -> Runtime:
        """Build from `PYPELINE_CONFIG` (no config: an app with no user tasks)."""
        settings = get_settings()
        config = load_config(settings.config_path) if settings.config_path else None
        return cls(config, settings, **kwargs)

    # ------------------------------------------------------------------ accessors
    @property
    def config(self) -> PypelineConfig:
        """The loaded config; an error if this runtime has none."""
        if self._config is None:
            raise PypelineError("no config loaded: pass a FILE or set PYPELINE_CONFIG")
        return self._config

    @property
    def has_config(self) -> bool:
        """True when a config is loaded (workers, beat, API); False for a store-only CLI runtime."""
        return self._config is not None

    @cached_property
    def store(self) -> RunStore:
        """The run store (migrated on first use)."""
        return RunStore(self.settings.resolved_database_url, retry_seconds=self.settings.store_retry_seconds,
                        lease_seconds=self.settings.lease_seconds)

    def dag(self, pipeline_id: str) -> PipelineDag:
        """The DAG of a pipeline, built once."""
        dag = self._dags.get(pipeline_id)
        if dag is None:
            dag = self._dags[pipeline_id] = PipelineDag(self.config.pipeline(pipeline_id))
        return dag

    def engine_for(self, pipeline: PipelineConfig) -> Engine:
        """The engine a pipeline asks for."""
        try:
            return self.engines[pipeline.engine]
        except KeyError:
            raise PypelineError(f"engine {pipeline.engine!r} is not available (install celery-pypeline[workers])") \
                from None

    def engine_named(self, name: str) -> Engine:
        """An engine by name."""
        try:
            return self.engines[name]
        except KeyError:
            raise PypelineError(f"engine {name!r} is not available") from None

    def runner(self, engine: str) -> NodeRunner:
        """The node runner of an engine (used by ChainedTask in workers)."""
        runner = self.engine_named(engine).runner
        if runner is None:
            raise PypelineError(f"engine {engine!r} does not run node messages")
        return runner

    def start_run(
        self,
        pipeline_id: str,
        payload: Any = None,
        *,
        origin: str | None = None,
        run_id: str | None = None,
        tags: Sequence[str] | None = None,
        on_limit: str | None = None,
    ) -> str:
        """Validate the payload and start (or queue, under maxActiveRuns) a run of a declared pipeline.

        `on_limit` overrides the pipeline's `onLimit` for this run (backfills always queue).
        """
        from pypeline.engines.payload import validate_payload

        pipeline = self.config.pipeline(pipeline_id)
        payload = {} if payload is None else payload
        validate_payload(pipeline, payload, self.settings.max_payload_bytes)
        run_id = run_id or str(uuid.uuid4())
        self.launcher.start(pipeline, payload, run_id=run_id, origin=origin, tags=normalize_tags(tags),
                            on_limit=on_limit)
        return run_id

    @cached_property
    def launcher(self) -> RunLauncher:
        """Starts runs through each pipeline's run slots (maxActiveRuns)."""
        from pypeline.engines.limits import RunLauncher

        return RunLauncher(self)

    # ------------------------------------------------------------------ run completion
    @cached_property
    def _pubsub_results(self) -> bool:
        return str(self.celery.conf.result_backend or "").startswith(("redis://", "rediss://"))

    def notify_run_finished(self, run_id: str, status: Status, *, event: str | None = None) -> None:
        """Wake waiters on the run through the result backend's pub/sub (the store stays the truth).

        `event` names a more specific outcome for notifications (`TIMED_OUT` for a FAILED run past maxRunTtl).
        """
        from pypeline.engines import subpipelines
        from pypeline.engines.limits import run_finished_hooks

        run_finished_hooks(self, run_id, status, event=event)  # free its slot, send its notifications
        subpipelines.on_run_finished(self, run_id, status)  # complete the parent node, cascade a cancel
        if not self._pubsub_results:
            return
        try:
            self.celery.backend.store_result(run_id, {"run_id": run_id, "status": status.value}, "SUCCESS")
        except Exception:  # noqa: BLE001 - a lost wake-up only costs the waiter a poll interval
            log.warning("could not publish completion of run %s", run_id, exc_info=True)

    def wait(
        self,
        run_id: str,
        timeout: float | None = None,
        *,
        poll: float = 0.05,
        on_tick: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """Block until the run is terminal; returns its record, or raises RunTimeoutError.

        Store reads retry transient errors for `PYPELINE_STORE_RETRY_SECONDS` (a restart rides through);
        a longer outage raises StoreUnavailableError.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        result: AsyncResult | None = None
        blinks: tuple[type[BaseException], ...] = ()  # errors of the wake-up channel, not of the run
        if self._pubsub_results:
            from redis.exceptions import RedisError  # only a Redis result backend needs it (0.1-0.5 s to import)

            result = self.celery.AsyncResult(run_id)
            blinks = (OSError, ConnectionError, KombuOperationalError, RedisError)
        while True:
            if on_tick is not None:
                on_tick()
            if self.store.run_status(run_id).is_terminal:
                return self.store.get_run(run_id)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise RunTimeoutError(f"run {run_id} did not finish within {timeout} s")
            step = 0.5 if on_tick is None else 0.2
            step = step if left is None else max(min(step, left), 0.001)
            if result is not None:
                try:
                    result.get(timeout=step, interval=poll, propagate=False, disable_sync_subtasks=False)
                    if not self.store.run_status(run_id).is_terminal:
                        time.sleep(poll)  # stale signal from an earlier attempt of a rerun
                except CeleryTimeoutError:
                    pass
                except blinks as exc:
                    # The wake-up channel (Redis) blinked: fall back to polling the store for this step.
                    log.debug("run wake-up channel unavailable (%s); polling the store", exc)
                    time.sleep(min(poll * 4, step))
            else:
                time.sleep(min(poll, step))

    # ------------------------------------------------------------------ embedded worker
    @contextmanager
    def embedded_worker(
        self, concurrency: int = 2, queues: list[str] | None = None, loglevel: str = "WARNING"
    ) -> Iterator[Any]:
        """Run a real Celery worker in this process (threads pool) for the duration of the block."""
        from celery.contrib.testing.worker import start_worker

        queue_names = queues or list(self.config.queues())
        with start_worker(self.celery, concurrency=concurrency, pool="threads", perform_ping_check=False,
                          loglevel=loglevel, queues=queue_names, shutdown_timeout=30) as worker:
            try:
                yield worker
            finally:
                # The embedded transport stops at once when asked to (no drain cycle), so in-flight nodes are
                # finished here first: leaving the block waits for them (at most 30 s), and costs nothing idle.
                _wait_until_idle(timeout=30.0)


def _wait_until_idle(timeout: float, poll: float = 0.01) -> None:
    """Block until this process's worker executes no task (or `timeout` passed)."""
    from celery.worker import state as worker_state

    deadline = time.monotonic() + timeout
    while worker_state.active_requests and time.monotonic() < deadline:
        time.sleep(poll)

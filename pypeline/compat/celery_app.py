"""The original's `configure_celery` and `GenerateCeleryTasks`: put Pypeline's config on a user's Celery app."""
from __future__ import annotations

import json
from typing import Any

from celery import Celery

from pypeline.config import PypelineConfig, load_config_text
from pypeline.runtime import Runtime
from pypeline.tasks.app import attach_runtime
from pypeline.tasks.chained import ChainedTask
from pypeline.tasks.registry import register_handlers

__all__ = ["configure_celery", "GenerateCeleryTasks", "BUILTIN_TASKS_MODULE", "as_config"]

#: Module defining the original's built-in tasks (`task_chain_regulator`, `pipeline_success`); imported by name
#: because it sits in an upper layer.
BUILTIN_TASKS_MODULE = "pypeline.compat.builtin_tasks"


def as_config(config: PypelineConfig | dict[str, Any] | None, runtime: Runtime | None = None) -> PypelineConfig:
    """A validated config from a parsed sermos.yaml dict, a PypelineConfig, or the runtime's own config."""
    if isinstance(config, PypelineConfig):
        return config
    if config is None:
        return (runtime or Runtime.from_env(register=False)).config
    return load_config_text(json.dumps(config), "<sermos config dict>")


class GenerateCeleryTasks:
    """Register every handler the config declares (one service's when `WORKER_NAME` is set) on a Celery app."""

    def __init__(self, config: PypelineConfig | dict[str, Any] | None, celery_instance: Celery,
                 *, runtime: Runtime | None = None) -> None:
        self.config = as_config(config, runtime)
        self.celery = celery_instance
        self.service = (runtime.settings.service if runtime is not None else None)

    def generate(self) -> list[str]:
        """Register the tasks (a handler that cannot be imported is a ConfigError); returns their names."""
        from pypeline.settings import get_settings

        service = self.service if self.service is not None else get_settings().service
        return register_handlers(self.celery, self.config, service)


def configure_celery(celery: Celery, *, runtime: Runtime | None = None) -> Celery:
    """Give `celery` Pypeline's settings (broker, backend, JSON, queues, beat scheduler) and the config's tasks.

    Node messages are still published through the runtime's own app (same broker); a worker started with
    `celery -A yourpkg.celery worker` runs them because the tasks and the runtime are attached here.
    """
    rt = runtime or Runtime.from_env(register=False)
    source = rt.celery.conf
    celery.conf.update({key: source[key] for key in source.changes})
    celery.conf.broker_url = source.broker_url
    celery.conf.result_backend = source.result_backend
    celery.conf.imports = (*tuple(celery.conf.imports or ()), BUILTIN_TASKS_MODULE)
    celery.Task = ChainedTask
    attach_runtime(celery, rt)  # how ChainedTask finds its runner
    if "dyrygent" in rt.engines:
        from pypeline.engines.dyrygent import register_processor

        register_processor(celery)
    if rt.has_config:
        register_handlers(celery, rt.config, rt.settings.service)
    return celery

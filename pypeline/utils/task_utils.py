"""The original's `TaskRunner` (sermos-compat §11): publish work to declared handlers.

Both methods are thin calls into `pypeline.services.publish`. Unlike the original, which logged every
problem and returned False, bad input (a task path not declared in config, a payload that is not JSON
or is too large, a group size below 1) raises InvalidInputError before anything is sent; a broker
error is still logged and returns False, as before.
"""
from __future__ import annotations

import logging
from typing import Any

from pypeline.compat.current import default_runtime
from pypeline.deprecation import Moved, moved_names
from pypeline.errors import PypelineError
from pypeline.runtime import Runtime
from pypeline.services.publish import publish_in_groups, publish_task

__all__ = ["TaskRunner", "default_runtime", "PipelineRunWrapper", "PipelineResult", "chain_helper",
           "get_task_signature", "get_service_config_for_worker"]

log = logging.getLogger(__name__)

_MOVED = {
    "PipelineRunWrapper": Moved("pypeline.compat.runs:PipelineRunWrapper",
                                "the node's `event` (chain_payload, execution_id) or pypeline.services.runs.get_run"),
    "PipelineResult": Moved("pypeline.compat.runs:PipelineResult", "pypeline.services.runs.get_run"),
    "chain_helper": Moved("pypeline.compat.runs:chain_helper", "pypeline.services.invoke.invoke"),
    "get_task_signature": Moved("pypeline.compat.runs:get_task_signature", "TaskRunner.publish_work"),
    "get_service_config_for_worker": Moved("pypeline.compat.runs:get_service_config_for_worker",
                                           "pypeline.config.PypelineConfig.handlers_for_service"),
}
__getattr__ = moved_names(__name__, _MOVED)

class TaskRunner:
    """Publish plain task messages (the original's API)."""

    @staticmethod
    def publish_work(
        task_path: str,
        task_payload: dict[str, Any],
        queue: str | None = None,
        max_ttl: int | None = None,
        *,
        runtime: Runtime | None = None,
    ) -> bool:
        """Send one message to a declared handler with `task_payload` as its `event`; True once sent."""
        rt = default_runtime(runtime)
        try:
            publish_task(rt, task_path, task_payload, queue=queue, max_ttl=max_ttl)
        except PypelineError:
            raise
        except Exception:  # noqa: BLE001 - original contract: a broker error is logged, the caller gets False
            log.exception("could not publish %s", task_path)
            return False
        return True

    @staticmethod
    def publish_work_in_batches(
        task_path: str,
        task_payload_list: list[Any],
        queue: str | None = None,
        grouping_key: str = "tasks",
        max_per_task: int = 5,
        max_ttl: int | None = None,
        *,
        runtime: Runtime | None = None,
    ) -> bool:
        """Send `task_payload_list` in groups of `max_per_task`, each as `event[grouping_key]`; True once all sent."""
        rt = default_runtime(runtime)
        try:
            publish_in_groups(rt, task_path, task_payload_list, queue=queue, grouping_key=grouping_key,
                              max_per_task=max_per_task, max_ttl=max_ttl)
        except PypelineError:
            raise
        except Exception:  # noqa: BLE001 - original contract: a broker error is logged, the caller gets False
            log.exception("could not publish %s in batches", task_path)
            return False
        return True

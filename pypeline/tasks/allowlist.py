"""Only declared tasks run: a worker consumes messages for an allow-list of task names and rejects the rest.

Celery registers its built-ins (`celery.backend_cleanup`, `celery.chord_unlock`, `celery.group`, ...) and
every `shared_task` of an imported module in each app. They stay registered (so Celery's own machinery and
`inspect registered` still work), but the worker's consumer forgets how to execute them: a message naming one
is handled as an unregistered task (logged at ERROR, rejected without requeue, nothing runs).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from celery import Celery, bootsteps

__all__ = ["BUILTIN_PREFIX", "restrict_worker_tasks", "AllowListStep"]

log = logging.getLogger(__name__)

#: Celery's own task names all start with this.
BUILTIN_PREFIX = "celery."


class AllowListStep(bootsteps.StartStopStep):
    """Consumer bootstep run right after Celery's `Tasks` step: drops the strategies of non-allowed tasks."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    #: Set per app by `restrict_worker_tasks`: returns the allowed task names when the consumer starts.
    allowed: Callable[[], Iterable[str]] = staticmethod(lambda: ())

    def start(self, c: Any) -> None:
        """Remove every task the worker must not run from the consumer's dispatch table."""
        allowed = set(self.allowed())
        refused = sorted(name for name in c.strategies if name not in allowed)
        for name in refused:
            del c.strategies[name]  # the consumer's handler holds this same dict
        if refused:
            log.info("worker refuses messages for %d undeclared task(s): %s", len(refused), ", ".join(refused))


def restrict_worker_tasks(app: Celery, allowed: Callable[[], Iterable[str]], *, allow_builtins: bool = False) -> None:
    """Make `app`'s workers execute only the tasks `allowed()` names (plus Celery's built-ins if allowed)."""

    def names() -> set[str]:
        chosen = set(allowed())
        if allow_builtins:
            chosen.update(name for name in app.tasks if name.startswith(BUILTIN_PREFIX))
        return chosen

    step = type("PypelineAllowList", (AllowListStep,), {"allowed": staticmethod(names)})
    app.steps["consumer"].add(step)

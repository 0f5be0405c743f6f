"""`celery -A pypeline.celery worker|beat|flower|result`: the app built from `PYPELINE_CONFIG` and `PYPELINE_*`.

Without `-Q` the worker consumes every queue the config names (and `celery`); beat uses the database
scheduler; task events are on (`PYPELINE_TASK_EVENTS`). The app is made Celery's current and default app,
so tools that look results up on `current_app` (Flower's result API, `celery result`) use its backend.
The original's names (`configure_celery`, `GenerateCeleryTasks`, `task_chain_regulator`, `pipeline_success`)
are served with a DeprecationWarning.
"""
from __future__ import annotations

from pypeline.deprecation import Moved, moved_names
from pypeline.runtime import Runtime

__all__ = ["app", "celery", "runtime", "configure_celery", "GenerateCeleryTasks", "task_chain_regulator",
           "pipeline_success"]

runtime = Runtime.from_env()
app = runtime.celery
app.set_current()
app.set_default()
celery = app

_MOVED = {
    "configure_celery": Moved("pypeline.compat.celery_app:configure_celery",
                              "`celery -A pypeline.celery` or pypeline.runtime.Runtime"),
    "GenerateCeleryTasks": Moved("pypeline.compat.celery_app:GenerateCeleryTasks",
                                 "pypeline.tasks.registry.register_handlers"),
    "task_chain_regulator": Moved("pypeline.compat.builtin_tasks:task_chain_regulator",
                                  "pipelines run by the event-driven engine (no regulator tasks)"),
    "pipeline_success": Moved("pypeline.compat.builtin_tasks:pipeline_success",
                              "the run store (a run's status is recorded by its engine)"),
}
__getattr__ = moved_names(__name__, _MOVED)

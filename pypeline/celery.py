"""`celery -A pypeline.celery worker|beat`: the app built from `PYPELINE_CONFIG` and `PYPELINE_*` settings."""
from __future__ import annotations

from pypeline.runtime import Runtime

__all__ = ["app", "celery", "runtime"]

runtime = Runtime.from_env()
app = runtime.celery
celery = app

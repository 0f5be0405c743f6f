"""Tasks layer: the Celery app defaults, the ChainedTask base and generation of tasks from config."""
from __future__ import annotations

from pypeline.tasks.app import create_celery_app
from pypeline.tasks.chained import CONTEXT_KEY, ChainedTask
from pypeline.tasks.registry import register_handlers

__all__ = ["create_celery_app", "ChainedTask", "CONTEXT_KEY", "register_handlers"]

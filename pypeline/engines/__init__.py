"""Engines: one interface, several ways to orchestrate a pipeline DAG on Celery workers."""
from __future__ import annotations

from pypeline.engines.base import Engine, EngineRuntime
from pypeline.engines.eventdriven import EventDrivenEngine

__all__ = ["Engine", "EngineRuntime", "EventDrivenEngine"]

"""Pypeline: Celery-backed DAG orchestration for plain Python functions described in sermos.yaml."""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

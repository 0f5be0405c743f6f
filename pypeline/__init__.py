"""Pypeline: Celery-backed DAG orchestration for plain Python functions described in sermos.yaml.

The names below are the public Python API (see docs/api-reference.md); every other module is internal.
`import pypeline` stays cheap: errors and `Status` are imported at once, everything else (the runtime,
Celery, SQLAlchemy, Flask, boto3) only when its name is first used (PEP 562 module `__getattr__`)::

    from pypeline import Pipeline, runtime_for, invoke

    rt = runtime_for([Pipeline("demo").add_node("hello", handler="myproject.handlers.hello")])
    with rt.embedded_worker():
        record = rt.wait(invoke(rt, "demo", {"name": "world"}), timeout=60)
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pypeline.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    AuthError,
    ConcurrencyLimitError,
    ConfigError,
    ConfigIssue,
    InvalidInputError,
    InvalidTransitionError,
    NodeExecutionError,
    NodeResultError,
    NotFoundError,
    PypelineError,
    RunTimeoutError,
    SourceError,
    StoreError,
    StoreUnavailableError,
)
from pypeline.status import Status
from pypeline.version import __version__

if TYPE_CHECKING:  # the lazy names, for type checkers and IDEs
    from pypeline.api import FlaskPypeline, create_app
    from pypeline.config.loader import load_config
    from pypeline.generators import KeyFilter, KeyGenerator, KeyInfo, LocalKeyGenerator, S3KeyGenerator, make_generator
    from pypeline.pipeline import Pipeline, runtime_for
    from pypeline.runtime import Runtime
    from pypeline.services.invoke import invoke
    from pypeline.settings import Settings, get_settings
    from pypeline.tasks.context import emit, events

__all__ = [
    "__version__",
    # Define pipelines and run them
    "Pipeline",
    "runtime_for",
    "load_config",
    "Runtime",
    "invoke",
    "Status",
    # Inside a node handler
    "emit",
    "events",
    # Settings
    "Settings",
    "get_settings",
    # Key generators (batches)
    "KeyGenerator",
    "KeyInfo",
    "KeyFilter",
    "LocalKeyGenerator",
    "S3KeyGenerator",
    "make_generator",
    # HTTP API and dashboard in a Flask app
    "FlaskPypeline",
    "create_app",
    # Errors: every one derives from PypelineError
    "PypelineError",
    "ConfigIssue",
    "ConfigError",
    "NotFoundError",
    "InvalidInputError",
    "AlreadyExistsError",
    "InvalidTransitionError",
    "ConcurrencyLimitError",
    "StoreError",
    "StoreUnavailableError",
    "NodeExecutionError",
    "NodeResultError",
    "RunTimeoutError",
    "AuthError",
    "AccessDeniedError",
    "SourceError",
]

#: Public name -> the module that defines it, imported on first use.
_LAZY = {
    "Pipeline": "pypeline.pipeline",
    "runtime_for": "pypeline.pipeline",
    "load_config": "pypeline.config.loader",
    "Runtime": "pypeline.runtime",
    "invoke": "pypeline.services.invoke",
    "emit": "pypeline.tasks.context",
    "events": "pypeline.tasks.context",
    "Settings": "pypeline.settings",
    "get_settings": "pypeline.settings",
    "KeyGenerator": "pypeline.generators",
    "KeyInfo": "pypeline.generators",
    "KeyFilter": "pypeline.generators",
    "LocalKeyGenerator": "pypeline.generators",
    "S3KeyGenerator": "pypeline.generators",
    "make_generator": "pypeline.generators",
    "FlaskPypeline": "pypeline.api",  # an alias that follows the Flask app assembly wherever it lives
    "create_app": "pypeline.api",
}


def __getattr__(name: str) -> Any:
    """Import a public name on first use (and keep it, so later lookups are plain attribute reads)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pypeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names and the module's own attributes."""
    return sorted({*globals(), *__all__})

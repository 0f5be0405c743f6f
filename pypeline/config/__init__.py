"""Config layer: load a sermos.yaml/pypeline.yaml with safe YAML, validate it into typed objects."""
from __future__ import annotations

from pypeline.config.loader import load_config, load_config_text
from pypeline.config.model import (
    BatchConfig,
    GeneratorConfig,
    NodeConfig,
    PipelineConfig,
    PypelineConfig,
    RetryPolicy,
    ScheduleConfig,
    ServiceConfig,
)

__all__ = [
    "load_config",
    "load_config_text",
    "BatchConfig",
    "GeneratorConfig",
    "NodeConfig",
    "PipelineConfig",
    "PypelineConfig",
    "RetryPolicy",
    "ScheduleConfig",
    "ServiceConfig",
]

"""The original's `pypeline.pipeline_config_schema` (pipelines are now validated by `pypeline.config`)."""
from __future__ import annotations

from pypeline.deprecation import Moved, moved_names

__all__ = ["BasePipelineSchema", "PipelineSchemaV1", "PipelineConfigSchemaV1", "MetadataSchema",
           "TaskDefinitionsSchema", "PipelineConfigValidator"]

_MOVED = {name: Moved(f"pypeline.compat.schemas:{name}", "pypeline.config.load_config_text") for name in __all__}
__getattr__ = moved_names(__name__, _MOVED)

"""Turn the raw YAML tree into typed config objects, collecting every issue of the file in one pass.

One checks class per section (services, pipelines, schedules, batches), combined into one pass here.
"""
from __future__ import annotations

from typing import Any

from pypeline.config import codes, schema
from pypeline.config.fields import check_mapping, describe
from pypeline.config.model import PypelineConfig
from pypeline.config.ops import notify_handler_problem
from pypeline.config.subpipelines import check_pipeline_refs
from pypeline.config.validate.batches import BatchChecks
from pypeline.config.validate.pipelines import PipelineChecks
from pypeline.config.validate.schedules import ScheduleChecks
from pypeline.config.validate.services import ServiceChecks
from pypeline.config.yaml_source import SourceMap
from pypeline.errors import ConfigIssue

__all__ = ["validate_config"]


def validate_config(
    data: Any, source: SourceMap, *, check_handlers: bool = True
) -> tuple[PypelineConfig | None, list[ConfigIssue]]:
    """Validate a parsed config tree; returns the typed config (None if the root is unusable) and all issues."""
    validator = _Validator(source)
    config = validator.run(data, check_handlers=check_handlers)
    return config, validator.rep.issues


class _Validator(ServiceChecks, PipelineChecks, ScheduleChecks, BatchChecks):
    """One validation pass over a whole file."""

    def run(self, data: Any, *, check_handlers: bool) -> PypelineConfig | None:
        """Validate every section, then (optionally) import the handlers."""
        if not isinstance(data, dict):
            self.error("", f"the top level must be a mapping (serviceConfig, pipelines, ...), got {describe(data)}",
                       code=codes.WRONG_TYPE)
            return None
        top = check_mapping(data, schema.TOP, "", self.rep) or {}
        services = self._services(top.get("serviceConfig") or [])
        raw_pipelines = top.get("pipelines") or {}
        pipelines = self._pipelines(raw_pipelines)
        check_pipeline_refs(raw_pipelines, self.rep)
        declared = self._declared_handlers(top)
        schedules = self._schedules(top.get("scheduledTasks") or {}, set(raw_pipelines), declared)
        batches = self._batches(top.get("batches") or {}, set(raw_pipelines))
        if check_handlers:
            self._check_handlers()
            for path, handler in self.notify_handlers:
                problem = notify_handler_problem(handler)
                if problem is not None:
                    self.error(path, problem, code=codes.HANDLER)
        return PypelineConfig(
            path=self.rep.source.filename,
            services=tuple(services),
            pipelines=pipelines,
            schedules=schedules,
            batches=batches,
            api_config=dict(top.get("apiConfig") or {}),
            raw=data,
        )

"""The original's marshmallow config schemas, as thin classes over the new validators.

`load()` returns the data or raises marshmallow's `ValidationError` (messages keyed by dotted path);
`validate()` returns those messages ({} when valid). Pipelines are checked by `pypeline.config`,
schedules by `pypeline.scheduler.spec` — the same rules the loader, the API and beat apply.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from marshmallow import ValidationError

from pypeline.config import load_config_text
from pypeline.errors import ConfigError, InvalidInputError
from pypeline.scheduler.spec import parse_schedule

__all__ = ["CompatSchema", "SermosYamlSchema", "BasePipelineSchema", "PipelineSchemaV1", "PipelineConfigSchemaV1",
           "MetadataSchema", "TaskDefinitionsSchema", "PipelineConfigValidator", "BaseScheduleSchema",
           "ScheduleSchemaV1", "ScheduleConfigSchemaV1", "IntervalScheduleSchema", "CrontabScheduleSchema",
           "ValidationError"]

_HANDLER = "compat_placeholder.handler"


def _config_messages(document: dict[str, Any], strip: str = "") -> dict[str, list[str]]:
    try:
        load_config_text(json.dumps(document, default=str), "<data>", check_handlers=False)
    except ConfigError as exc:
        messages: dict[str, list[str]] = {}
        for issue in exc.issues:
            key = issue.path.removeprefix(strip).lstrip(".") or "_schema"
            messages.setdefault(key, []).append(issue.message)
        return messages
    return {}


def _handlers(pipeline: Any) -> list[dict[str, str]]:
    config = pipeline.get("config") if isinstance(pipeline, dict) else None
    definitions = config.get("taskDefinitions") if isinstance(config, dict) else None
    found = {str(d.get("handler", "")).strip() for d in (definitions or {}).values() if isinstance(d, dict)}
    return [{"handler": h} for h in sorted(found - {""}) or [_HANDLER]]


def _pipeline_document(pipeline: Any) -> dict[str, Any]:
    return {"serviceConfig": [{"name": "compat", "registeredTasks": _handlers(pipeline)}],
            "pipelines": {"pipeline": pipeline}}


class CompatSchema(ABC):
    """marshmallow-style `load`/`validate`/`dump` over a new-code check."""

    __schema_version__: ClassVar[int | None] = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Arguments marshmallow accepts (`many`, `unknown`, ...) are kept in `options` and have no effect."""
        self.options = dict(kwargs)

    @abstractmethod
    def messages(self, data: Any) -> dict[str, list[str]]:
        """Problems with `data`, keyed by dotted path ({} when valid)."""

    def validate(self, data: Any, **_: Any) -> dict[str, list[str]]:
        """Problems with `data` ({} when valid)."""
        return self.messages(data)

    def load(self, data: Any, **_: Any) -> Any:
        """`data` if valid, else ValidationError."""
        problems = self.messages(data)
        if problems:
            raise ValidationError(problems)
        return data

    def dump(self, obj: Any, **_: Any) -> Any:
        """`obj` unchanged (documents are plain JSON already)."""
        return obj

    @classmethod
    def get_by_version(cls, version: int) -> type[CompatSchema]:
        """The schema class of a `schemaVersion` (only 1 exists)."""
        if int(version) != 1:
            raise ValidationError({"schemaVersion": [f"unsupported schemaVersion {version!r}; only 1 exists"]})
        return cls

    @classmethod
    def get_latest(cls) -> type[CompatSchema]:
        """The latest schema class."""
        return cls


class SermosYamlSchema(CompatSchema):
    """A whole sermos.yaml / pypeline.yaml document."""

    def messages(self, data: Any) -> dict[str, list[str]]:
        """Problems with the document."""
        return _config_messages(data if isinstance(data, dict) else {"serviceConfig": data})


class BasePipelineSchema(CompatSchema):
    """One `pipelines.<id>` entry."""

    def messages(self, data: Any) -> dict[str, list[str]]:
        """Problems with the pipeline entry."""
        return _config_messages(_pipeline_document(data), "pipelines.pipeline")


class PipelineSchemaV1(BasePipelineSchema):
    """One `pipelines.<id>` entry, schemaVersion 1."""


class PipelineConfigSchemaV1(CompatSchema):
    """The `config` of a pipeline entry (metadata, dagAdjacency, taskDefinitions)."""

    def messages(self, data: Any) -> dict[str, list[str]]:
        """Problems with the pipeline's config."""
        pipeline = {"name": "pipeline", "schemaVersion": 1, "config": data}
        return _config_messages(_pipeline_document(pipeline), "pipelines.pipeline.config")


class MetadataSchema(CompatSchema):
    """`config.metadata` of a pipeline."""

    def messages(self, data: Any) -> dict[str, list[str]]:
        """Problems with the metadata."""
        config = {"metadata": data, "dagAdjacency": {"a": []}, "taskDefinitions": {"a": {"handler": _HANDLER}}}
        found = PipelineConfigSchemaV1().messages(config)
        return {k.removeprefix("metadata").lstrip(".") or "_schema": v for k, v in found.items()}


class TaskDefinitionsSchema(CompatSchema):
    """One `config.taskDefinitions.<node>` entry."""

    def messages(self, data: Any) -> dict[str, list[str]]:
        """Problems with the task definition."""
        config = {"metadata": {"queue": "celery"}, "dagAdjacency": {"a": []}, "taskDefinitions": {"a": data}}
        found = PipelineConfigSchemaV1().messages(config)
        return {k.removeprefix("taskDefinitions.a").lstrip(".") or "_schema": v for k, v in found.items()}


class PipelineConfigValidator:
    """Validate a pipeline's `config` (dict or YAML text); sets `is_valid` and re-raises ValidationError."""

    def __init__(self, config_dict: dict[str, Any] | None = None, config_yaml: str | None = None,
                 schema_version: int | None = None) -> None:
        import yaml

        self.is_valid = False
        self.validated_config: dict[str, Any] = {}
        self.validation_errors: dict[str, list[str]] = {}
        data = config_dict if config_dict is not None else yaml.safe_load(config_yaml or "")
        schema = PipelineConfigSchemaV1.get_by_version(schema_version or 1)()
        try:
            self.validated_config = schema.load(data)
        except ValidationError as exc:
            self.validation_errors = exc.messages  # type: ignore[assignment]
            raise
        self.is_valid = True


class BaseScheduleSchema(CompatSchema):
    """One `scheduledTasks.<id>` entry (also the POST /schedules body)."""

    def messages(self, data: Any) -> dict[str, list[str]]:
        """Problems with the schedule entry."""
        try:
            parse_schedule(data)
        except InvalidInputError as exc:
            return {"_schema": [str(exc)]}
        return {}


class ScheduleSchemaV1(BaseScheduleSchema):
    """One `scheduledTasks.<id>` entry, schemaVersion 1."""


def _schedule_with(config: Any) -> dict[str, Any]:
    return {"name": "schedule", "schemaVersion": 1, "enabled": True, "config": config}


class ScheduleConfigSchemaV1(CompatSchema):
    """The `config` of a schedule entry."""

    def messages(self, data: Any) -> dict[str, list[str]]:
        """Problems with the schedule's config."""
        return BaseScheduleSchema().messages(_schedule_with(data))


class IntervalScheduleSchema(CompatSchema):
    """An interval schedule: `every` and `period`."""

    def messages(self, data: Any) -> dict[str, list[str]]:
        """Problems with the interval."""
        config = {"scheduleType": "interval", "task": _HANDLER, "queue": "celery", "schedule": data}
        return ScheduleConfigSchemaV1().messages(config)


class CrontabScheduleSchema(CompatSchema):
    """A crontab schedule: `minute`, `hour`, `dayOfWeek`, `dayOfMonth`, `monthOfYear`."""

    def messages(self, data: Any) -> dict[str, list[str]]:
        """Problems with the crontab."""
        config = {"scheduleType": "crontab", "task": _HANDLER, "queue": "celery", "schedule": data}
        return ScheduleConfigSchemaV1().messages(config)

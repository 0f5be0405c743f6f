"""Validation of `scheduledTasks` entries: target, timezone and timing (through config.schedule_timing)."""
from __future__ import annotations

from typing import Any

from pypeline.config import codes, schema
from pypeline.config.fields import check_mapping, describe, hint
from pypeline.config.model import ScheduleConfig
from pypeline.config.schedule_timing import parse_timing, zone
from pypeline.config.validate.base import ValidatorBase
from pypeline.config.yaml_source import join_path

__all__ = ["ScheduleChecks"]


class ScheduleChecks(ValidatorBase):
    """Checks of the `scheduledTasks` section."""

    def _schedules(
        self, raw: dict[Any, Any], pipeline_ids: set[Any], declared: set[str]
    ) -> dict[str, ScheduleConfig]:
        schedules: dict[str, ScheduleConfig] = {}
        names: dict[str, str] = {}
        for sid, item in raw.items():
            path = join_path("scheduledTasks", sid)
            if not isinstance(sid, str):
                self.error(path, f"schedule ids must be strings, got {describe(sid)}",
                           key=True, code=codes.ID_NOT_STRING)
                continue
            sched = self._schedule(sid, item, path, pipeline_ids, declared)
            if sched is None:
                continue
            if sched.name in names:
                self.error(join_path(path, "name"), f"schedule name '{sched.name}' is already used by "
                                                    f"{names[sched.name]}; names must be unique",
                           code=codes.DUPLICATE_NAME)
                continue
            names[sched.name] = path
            schedules[sid] = sched
        return schedules

    def _schedule(
        self, sid: str, raw: Any, path: str, pipeline_ids: set[Any], declared: set[str]
    ) -> ScheduleConfig | None:
        entry = check_mapping(raw, schema.SCHEDULE, path, self.rep)
        if entry is None:
            return None
        self._schema_version(entry, path)
        if "config" not in entry:
            return None  # missing or not a mapping: already reported
        cpath = join_path(path, "config")
        config = check_mapping(entry["config"], schema.SCHEDULE_CONFIG, cpath, self.rep) or {}
        ok = self._schedule_target(config, cpath, pipeline_ids, declared)
        timezone_name = config.get("timezone", "UTC")
        if not self._timezone_ok(timezone_name, join_path(cpath, "timezone")):
            ok = False
        timing = parse_timing(config.get("scheduleType"), config.get("schedule"), cpath, self.rep)
        if not ok or timing is None or "name" not in entry:
            return None
        return ScheduleConfig(
            id=sid,
            name=entry["name"],
            enabled=entry.get("enabled", True),
            schedule_type=timing.kind,
            task=config.get("task"),
            pipeline=config.get("pipeline"),
            queue=config.get("queue"),
            exchange=config.get("exchange"),
            routing_key=config.get("routingKey"),
            expires=config.get("expires"),
            interval_seconds=timing.interval_seconds,
            crontab=timing.crontab,
            timezone=timezone_name,
            payload=dict(config.get("payload") or {}),
            raw=raw,
            tags=(config["tags"],) if isinstance(config.get("tags"), str) else tuple(config.get("tags") or ()),
        )

    def _schedule_target(self, config: dict[str, Any], path: str, pipeline_ids: set[Any], declared: set[str]) -> bool:
        failed = self.rep.source.failed
        task, pipeline = config.get("task"), config.get("pipeline")
        if task is not None and pipeline is not None:
            self.error(join_path(path, "pipeline"), "a schedule takes either 'task' or 'pipeline', not both",
                       key=True, code=codes.TARGET_CONFLICT)
            return False
        if task is None and pipeline is None:
            if join_path(path, "task") not in failed and join_path(path, "pipeline") not in failed:
                self.error(path, "a schedule needs 'task' (a handler path) or 'pipeline' (a pipeline id)",
                           key=True, code=codes.NO_TARGET)
            return False
        if task is not None:
            if task not in declared:
                text, match = hint(task, declared, cutoff=0.9)
                self.error(join_path(path, "task"), f"task '{task}' is not declared in serviceConfig.registeredTasks"
                                                    f"{text}", code=codes.UNDECLARED_TASK, suggestion=match)
                return False
            self.handler_uses.append((join_path(path, "task"), task, False))
            return True
        if pipeline not in pipeline_ids:
            names = {p for p in pipeline_ids if isinstance(p, str)}
            text, match = hint(str(pipeline), names)
            self.error(join_path(path, "pipeline"), f"pipeline '{pipeline}' is not declared in pipelines{text}",
                       code=codes.UNKNOWN_PIPELINE, suggestion=match)
            return False
        return True

    def _timezone_ok(self, name: str, path: str) -> bool:
        try:
            zone(name)
        except ValueError as exc:
            self.error(path, str(exc), code=codes.UNKNOWN_TIMEZONE)
            return False
        return True

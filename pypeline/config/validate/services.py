"""Validation of `serviceConfig` entries and their registered tasks."""
from __future__ import annotations

from typing import Any

from pypeline.config import codes, schema
from pypeline.config.fields import check_mapping, check_value
from pypeline.config.model import ServiceConfig
from pypeline.config.validate.base import ValidatorBase
from pypeline.config.yaml_source import index_path, join_path

__all__ = ["ServiceChecks"]


class ServiceChecks(ValidatorBase):
    """Checks of the `serviceConfig` section."""

    def _declared_handlers(self, top: dict[str, Any]) -> set[str]:
        """Handler strings named in registeredTasks or taskDefinitions, read leniently (even from bad entries)."""
        found: set[str] = set()
        for service in top.get("serviceConfig") or []:
            tasks = service.get("registeredTasks") if isinstance(service, dict) else None
            for task in tasks if isinstance(tasks, list) else []:
                handler = task.get("handler") if isinstance(task, dict) else task
                if isinstance(handler, str):
                    found.add(handler.strip())
        for pipe in (top.get("pipelines") or {}).values():
            config = pipe.get("config") if isinstance(pipe, dict) else None
            defs = config.get("taskDefinitions") if isinstance(config, dict) else None
            for task in defs.values() if isinstance(defs, dict) else []:
                handler = task.get("handler") if isinstance(task, dict) else None
                if isinstance(handler, str):
                    found.add(handler.strip())
        return found

    def _services(self, raw: list[Any]) -> list[ServiceConfig]:
        services: list[ServiceConfig] = []
        names: dict[str, str] = {}
        for i, item in enumerate(raw):
            path = index_path("serviceConfig", i)
            entry = check_mapping(item, schema.SERVICE, path, self.rep)
            if entry is None:
                continue
            handlers: list[str] = []
            for j, task in enumerate(entry.get("registeredTasks") or []):
                handler = self._registered_task(task, index_path(join_path(path, "registeredTasks"), j))
                if handler is not None:
                    handlers.append(handler)
            name = entry.get("name")
            if name is None:
                continue
            if name in names:
                self.error(join_path(path, "name"), f"duplicate service name '{name}' (also used by {names[name]})",
                           code=codes.DUPLICATE_NAME)
                continue
            names[name] = path
            services.append(ServiceConfig(name=name, handlers=tuple(dict.fromkeys(handlers)), raw=item))
        return services

    def _registered_task(self, task: Any, path: str) -> str | None:
        field = schema.REGISTERED_TASK.fields["handler"]
        if isinstance(task, str):  # lenient: a bare handler path instead of {handler: ...}
            ok, handler = check_value(task, field, path, "handler", self.rep)
            handler_path = path
        else:
            entry = check_mapping(task, schema.REGISTERED_TASK, path, self.rep)
            handler = (entry or {}).get("handler")
            ok, handler_path = handler is not None, join_path(path, "handler")
        if not ok:
            return None
        self.handler_uses.append((handler_path, handler, False))
        return str(handler)

"""The original's `config_utils`: pipeline and schedule config lookups, Redis JSON helpers, key/deployment ids.

There is no config server any more: pipelines come from the loaded config and schedules from the database.
"""
from __future__ import annotations

import json
import os
from typing import Any

from pypeline.compat.current import default_runtime
from pypeline.errors import InvalidInputError, NotFoundError
from pypeline.runtime import Runtime
from pypeline.services import schedules as schedule_service

__all__ = ["CONFIG_REFRESH_RATE", "get_access_key", "get_deployment_id", "load_json_config_from_redis",
           "set_json_config_to_redis", "retrieve_latest_pipeline_config", "retrieve_latest_schedule_config",
           "update_schedule_config"]

#: Seconds a value set with `set_json_config_to_redis` lives by default (the original's default).
CONFIG_REFRESH_RATE = 30


def get_access_key(access_key: str | None = None, env_var_name: str = "SERMOS_ACCESS_KEY") -> str | None:
    """`access_key`, else the named env var, else `PYPELINE_ACCESS_KEY` (None when none is set)."""
    return access_key or os.environ.get(env_var_name) or os.environ.get("PYPELINE_ACCESS_KEY")


def get_deployment_id(deployment_id: str | None = None, env_var_name: str = "SERMOS_DEPLOYMENT_ID") -> str:
    """`deployment_id`, else the named env var, else `local`."""
    return deployment_id or os.environ.get(env_var_name) or "local"


def _redis(rt: Runtime) -> Any:
    import redis

    for url in (rt.settings.broker_url, rt.settings.resolved_result_backend):
        if url.startswith(("redis://", "rediss://")):
            return redis.Redis.from_url(url)
    raise InvalidInputError("no Redis configured: set PYPELINE_BROKER_URL or PYPELINE_RESULT_BACKEND to redis://...")


def load_json_config_from_redis(key: str, *, runtime: Runtime | None = None) -> Any:
    """The JSON value stored under `key` in the configured Redis (None if missing or "None")."""
    value = _redis(default_runtime(runtime)).get(key)
    if value is None or value.decode("utf-8").lower() == "none":
        return None
    return json.loads(value)


def set_json_config_to_redis(key: str, data: Any, refresh_rate: int = CONFIG_REFRESH_RATE, *,
                             runtime: Runtime | None = None) -> None:
    """Store `data` as JSON under `key` for `refresh_rate` seconds (None is stored as "None")."""
    text = "None" if data is None else json.dumps(data)
    _redis(default_runtime(runtime)).setex(key, refresh_rate, text)


def retrieve_latest_pipeline_config(pipeline_id: str | None = None, access_key: str | None = None,
                                    refresh_rate: int = CONFIG_REFRESH_RATE, *,
                                    runtime: Runtime | None = None) -> dict[str, Any] | list[dict[str, Any]]:
    """One pipeline's config entry (with `sermosPipelineId`), or all of them as a list."""
    config = default_runtime(runtime).config
    if pipeline_id is None:
        return [{**p.raw, "sermosPipelineId": p.id} for p in config.pipelines.values()]
    try:
        pipeline = config.pipeline(pipeline_id)
    except NotFoundError:
        raise ValueError(f"Invalid pipeline {pipeline_id!r}") from None
    return {**pipeline.raw, "sermosPipelineId": pipeline.id}


def retrieve_latest_schedule_config(access_key: str | None = None, refresh_rate: int = CONFIG_REFRESH_RATE, *,
                                    runtime: Runtime | None = None) -> list[dict[str, Any]]:
    """Every schedule in the database (with `sermosScheduledTasksId`)."""
    items = schedule_service.list_schedules(default_runtime(runtime))
    return [{**doc, "sermosScheduledTasksId": doc["id"]} for doc in items]


def update_schedule_config(new_schedule_config: dict[str, Any], access_key: str | None = None,
                           schedule_config_endpoint: str | None = None) -> bool:
    """Accepted and ignored, as in the original's local mode: beat records run times in the database itself."""
    return True

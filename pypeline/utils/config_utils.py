"""The original's `pypeline.utils.config_utils` (config from `pypeline.config`, schedules from the database)."""
from __future__ import annotations

from pypeline.deprecation import Moved, moved_names

__all__ = ["retrieve_latest_pipeline_config", "retrieve_latest_schedule_config", "update_schedule_config",
           "load_json_config_from_redis", "set_json_config_to_redis", "get_access_key", "get_deployment_id"]

_INSTEAD = {
    "retrieve_latest_pipeline_config": "pypeline.runtime.Runtime.config.pipeline(id)",
    "retrieve_latest_schedule_config": "pypeline.services.schedules.list_schedules",
    "update_schedule_config": "pypeline.services.schedules.update_schedule",
    "load_json_config_from_redis": "a Redis client",
    "set_json_config_to_redis": "a Redis client",
    "get_access_key": "API keys (pypeline keys create)",
    "get_deployment_id": "nothing (there are no cloud deployments)",
}
_MOVED = {name: Moved(f"pypeline.compat.config_utils:{name}", instead) for name, instead in _INSTEAD.items()}
__getattr__ = moved_names(__name__, _MOVED)

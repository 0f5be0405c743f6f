"""The original's `pypeline.sermos_yaml`: load the config shipped in a client package (now `pypeline.config`)."""
from __future__ import annotations

from pypeline.deprecation import Moved, moved_names

__all__ = ["SermosYamlSchema", "parse_config_file", "load_sermos_config", "load_client_config_and_version",
           "YamlPatternConstructor", "InvalidPackagePath", "InvalidSermosConfig", "MissingSermosConfig"]

_IMPL = "pypeline.compat.sermos_yaml"
_MOVED = {
    "SermosYamlSchema": Moved("pypeline.compat.schemas:SermosYamlSchema", "pypeline.config.load_config_text"),
    "parse_config_file": Moved(f"{_IMPL}:parse_config_file", "pypeline.config.load_config_text"),
    "load_sermos_config": Moved(f"{_IMPL}:load_sermos_config", "pypeline.config.load_config"),
    "load_client_config_and_version": Moved(f"{_IMPL}:load_client_config_and_version", "pypeline.config.load_config"),
    "YamlPatternConstructor": Moved(f"{_IMPL}:YamlPatternConstructor",
                                    "${VAR:default} in config files (interpolated by pypeline.config)"),
    "InvalidPackagePath": Moved(f"{_IMPL}:InvalidPackagePath", "pypeline.errors.ConfigError"),
    "InvalidSermosConfig": Moved(f"{_IMPL}:InvalidSermosConfig", "pypeline.errors.ConfigError"),
    "MissingSermosConfig": Moved(f"{_IMPL}:MissingSermosConfig", "pypeline.errors.ConfigError"),
}
__getattr__ = moved_names(__name__, _MOVED)

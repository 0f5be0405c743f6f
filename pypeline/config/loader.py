"""Public entry points: load a sermos.yaml / pypeline.yaml into a validated PypelineConfig or raise ConfigError."""
from __future__ import annotations

import os

from pypeline.config.model import PypelineConfig
from pypeline.config.validate import validate_config
from pypeline.config.yaml_source import parse_yaml
from pypeline.errors import ConfigError, ConfigIssue
from pypeline.settings import get_settings

__all__ = ["load_config", "load_config_text"]


def _sorted(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return sorted(issues, key=lambda i: (i.line is None, i.line or 0, i.column or 0))


def _too_large(size: int, filename: str) -> ConfigError:
    limit = get_settings().max_config_bytes
    return ConfigError([ConfigIssue(f"config file is {size:,} bytes, over the {limit:,}-byte limit "
                                    "(PYPELINE_MAX_CONFIG_BYTES)", file=filename)])


def load_config_text(text: str, filename: str = "<string>", *, check_handlers: bool = True) -> PypelineConfig:
    """Parse and validate config text; raises ConfigError listing every issue found."""
    limit = get_settings().max_config_bytes
    # a str holds at least one byte per character: only text near the limit needs encoding to be measured
    if isinstance(text, (str, bytes)) and len(text) > limit // 4:
        size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
        if size > limit:
            raise _too_large(size, filename)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError([ConfigIssue(f"config is not valid UTF-8: {exc}", file=filename)]) from None
    if not isinstance(text, str):
        raise ConfigError([ConfigIssue(f"config text must be a string, got {type(text).__name__}", file=filename)])
    parsed = parse_yaml(text, filename)
    issues = list(parsed.issues)
    if parsed.data is None:
        if not issues:
            issues.append(ConfigIssue("config file is empty; expected a mapping with serviceConfig, pipelines, ...",
                                      file=filename, line=1, column=1))
        raise ConfigError(_sorted(issues))
    config, more = validate_config(parsed.data, parsed.source, check_handlers=check_handlers)
    issues.extend(more)
    if issues or config is None:
        raise ConfigError(_sorted(issues))
    return config


def load_config(path: str | os.PathLike[str], *, check_handlers: bool = True) -> PypelineConfig:
    """Read, parse and validate a config file; a missing or unreadable file is a ConfigError too."""
    filename = os.fspath(path)
    limit = get_settings().max_config_bytes
    try:
        with open(filename, encoding="utf-8") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise _too_large(size, filename)
            text = handle.read(limit + 1)  # a file that grows (or a FIFO) is still bounded
            if len(text) > limit:
                raise _too_large(len(text.encode("utf-8", "surrogatepass")), filename)
    except FileNotFoundError:
        raise ConfigError([ConfigIssue("config file not found", file=filename)]) from None
    except IsADirectoryError:
        raise ConfigError([ConfigIssue("config path is a directory, not a file", file=filename)]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigIssue(f"config file is not valid UTF-8: {exc}", file=filename)]) from None
    except OSError as exc:
        message = f"config file could not be read: {exc.strerror or exc}"
        raise ConfigError([ConfigIssue(message, file=filename)]) from None
    return load_config_text(text, filename, check_handlers=check_handlers)

"""Public entry points: load a sermos.yaml / pypeline.yaml into a validated PypelineConfig or raise ConfigError."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from pypeline.config import codes
from pypeline.config.model import PypelineConfig
from pypeline.config.validate import validate_config
from pypeline.config.yaml_source import SourceMap, parse_yaml
from pypeline.errors import ConfigError, ConfigIssue
from pypeline.settings import get_settings

__all__ = ["load_config", "load_config_text", "check_config_text", "read_config_file", "CheckedConfig"]


def _sorted(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return sorted(issues, key=lambda i: (i.line is None, i.line or 0, i.column or 0))


def _unreadable(message: str, filename: str) -> ConfigError:
    return ConfigError([ConfigIssue(message, file=filename, code=codes.FILE_UNREADABLE.id)])


def _too_large(size: int, filename: str) -> ConfigError:
    limit = get_settings().max_config_bytes
    return ConfigError([ConfigIssue(f"config file is {size:,} bytes, over the {limit:,}-byte limit "
                                    "(PYPELINE_MAX_CONFIG_BYTES)", file=filename, code=codes.FILE_TOO_LARGE.id)])


def _oversize(text: str | bytes) -> int | None:
    """The size of `text` in bytes if it is over the config size cap, else None."""
    limit = get_settings().max_config_bytes
    # a str holds at least one byte per character: only text near the limit needs encoding to be measured
    if len(text) <= limit // 4:
        return None
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    return size if size > limit else None


@dataclass(frozen=True)
class CheckedConfig:
    """Config text checked without raising: the (possibly partial) config, every issue, and where keys are."""

    config: PypelineConfig | None
    issues: list[ConfigIssue] = field(default_factory=list)
    source: SourceMap | None = None


def check_config_text(
    text: str | bytes | object, filename: str = "<string>", *, check_handlers: bool = True,
    env: Mapping[str, str] | None = None,
) -> CheckedConfig:
    """Parse and validate config text without raising; issues are sorted by position.

    `text` is str or UTF-8 bytes; anything else (or bytes that are not UTF-8) is reported as an issue.

    `env` replaces the process environment for `${VAR}` interpolation (the dashboard preview passes `{}`).
    """
    if isinstance(text, (str, bytes)):
        size = _oversize(text)
        if size is not None:
            return CheckedConfig(None, _too_large(size, filename).issues)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return CheckedConfig(None, _unreadable(f"config is not valid UTF-8: {exc}", filename).issues)
    if not isinstance(text, str):
        return CheckedConfig(None, _unreadable(f"config text must be a string, got {type(text).__name__}",
                                               filename).issues)
    parsed = parse_yaml(text, filename, env)
    issues = list(parsed.issues)
    if parsed.data is None:
        if not issues:
            issues.append(ConfigIssue("config file is empty; expected a mapping with serviceConfig, pipelines, ...",
                                      file=filename, line=1, column=1, code=codes.EMPTY_FILE.id))
        return CheckedConfig(None, _sorted(issues), parsed.source)
    config, more = validate_config(parsed.data, parsed.source, check_handlers=check_handlers)
    issues.extend(more)
    return CheckedConfig(config, _sorted(issues), parsed.source)


def load_config_text(text: str, filename: str = "<string>", *, check_handlers: bool = True) -> PypelineConfig:
    """Parse and validate config text; raises ConfigError listing every issue found."""
    checked = check_config_text(text, filename, check_handlers=check_handlers)
    if checked.issues or checked.config is None:
        raise ConfigError(checked.issues)
    return checked.config


def load_config(path: str | os.PathLike[str], *, check_handlers: bool = True) -> PypelineConfig:
    """Read, parse and validate a config file; a missing or unreadable file is a ConfigError too."""
    return load_config_text(read_config_file(path), os.fspath(path), check_handlers=check_handlers)


def read_config_file(path: str | os.PathLike[str]) -> str:
    """The text of a config file; a missing or unreadable file is a ConfigError."""
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
        raise _unreadable("config file not found", filename) from None
    except IsADirectoryError:
        raise _unreadable("config path is a directory, not a file", filename) from None
    except UnicodeDecodeError as exc:
        raise _unreadable(f"config file is not valid UTF-8: {exc}", filename) from None
    except OSError as exc:
        message = f"config file could not be read: {exc.strerror or exc}"
        raise _unreadable(message, filename) from None
    return text

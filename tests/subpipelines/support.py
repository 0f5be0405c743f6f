"""Plain helpers of the sub-pipeline tests: the config copy with a unique queue, and a runtime over it."""
from __future__ import annotations

import uuid
from pathlib import Path

from pypeline.runtime import Runtime
from pypeline.settings import Settings

__all__ = ["CONFIG", "config_copy", "make_runtime"]

CONFIG = Path(__file__).parent / "subpipelines.yaml"


def config_copy(tmp_path: Path, queue: str | None = None) -> Path:
    """tests/subpipelines/subpipelines.yaml with its queue renamed to a unique one."""
    path = tmp_path / "subpipelines.yaml"
    path.write_text(CONFIG.read_text().replace("subpipe-tests", queue or f"subpipe-{uuid.uuid4().hex[:8]}"))
    return path


def make_runtime(tmp_path: Path, database: str, **settings: object) -> Runtime:
    """A runtime on the sub-pipeline config with a unique queue, the embedded broker and the given store."""
    config = config_copy(tmp_path)
    return Runtime.from_path(str(config), Settings(config_path=str(config), database_url=database,
                                                   home=tmp_path / "home", **settings))  # type: ignore[arg-type]

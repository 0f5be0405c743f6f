"""Plain helpers of the sub-pipeline tests: the config copy with a unique queue, and a runtime over it."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from pypeline.runtime import Runtime
from pypeline.settings import Settings

__all__ = ["CONFIG", "config_copy", "make_runtime", "add_sub_pipelines"]

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


def add_sub_pipelines(doc: dict[str, Any], queue: str) -> None:
    """An ApiStack config edit: `sub_parent` (prepare -> sub -> finish) whose node `sub` starts `sub_child`."""
    doc["pipelines"]["sub_child"] = {"name": "sub_child", "config": {
        "metadata": {"queue": queue, "maxRetry": 0},
        "taskDefinitions": {"double": {"handler": "tests.subpipelines.handlers.double"}}}}
    doc["pipelines"]["sub_parent"] = {"name": "sub_parent", "config": {
        "metadata": {"queue": queue, "maxRetry": 0},
        "dagAdjacency": {"prepare": ["sub"], "sub": ["finish"]},
        "taskDefinitions": {"prepare": {"handler": "tests.subpipelines.handlers.prepare"},
                            "sub": {"pipeline": "sub_child"},
                            "finish": {"handler": "tests.subpipelines.handlers.finish"}}}}

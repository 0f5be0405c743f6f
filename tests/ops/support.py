"""Operations test support: a runtime on tests/ops/ops.yaml with a unique queue."""
from __future__ import annotations

import uuid
from pathlib import Path

from pypeline.runtime import Runtime
from pypeline.settings import Settings

__all__ = ["OPS_CONFIG", "make_runtime"]

OPS_CONFIG = Path(__file__).parent / "ops.yaml"


def make_runtime(tmp_path: Path, database: str, **settings: object) -> Runtime:
    """A runtime on tests/ops/ops.yaml with a unique queue, the embedded broker and the given store."""
    queue = f"ops-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "ops.yaml"
    config.write_text(OPS_CONFIG.read_text().replace("ops-tests", queue))
    return Runtime.from_path(str(config), Settings(config_path=str(config), database_url=database,
                                                   home=tmp_path / "home", **settings))  # type: ignore[arg-type]

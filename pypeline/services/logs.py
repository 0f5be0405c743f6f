"""Read the captured output of a run's nodes (optionally following it while the run is active)."""
from __future__ import annotations

from typing import Any

from pypeline.runtime import Runtime
from pypeline.store.node_logs import read_logs

__all__ = ["run_logs"]


def run_logs(
    runtime: Runtime,
    run_id: str,
    *,
    node: str | None = None,
    instance: str | None = None,
    attempt: int | None = None,
    after: int = 0,
) -> dict[str, Any]:
    """Log chunks of a run after cursor `after`, with the cursor to continue from and whether the run ended."""
    terminal = runtime.store.run_status(run_id).is_terminal  # read first: a finished run's logs are complete
    items, cursor = read_logs(runtime.store.engine, run_id, node=node, instance=instance, attempt=attempt,
                              after=after)
    return {"run_id": run_id, "items": items, "next": cursor, "terminal": terminal}

"""Beat's housekeeping between its sweeps: an idle tick touches no database (idle CPU stays near zero)."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from pypeline.scheduler.housekeeping import Housekeeper
from pypeline.services import schedules as svc
from tests.scheduler.support import Harness


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_idle_ticks_between_sweeps_issue_no_sql(harness: Harness) -> None:
    assert harness.rt.settings.run_retention_days == 0  # retention off: nothing to prune, ever
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    keeper = Housekeeper(harness.rt, "test:1")
    schedules = svc.schedule_store(harness.rt)
    event.listen(harness.rt.store.engine, "before_cursor_execute", count)
    try:
        keeper.tick(0.0, schedules)
        assert statements, "the first tick takes the lease and sweeps queued runs"
        statements.clear()
        for second in range(1, int(keeper.sweep_every)):
            keeper.tick(float(second), schedules)
        assert statements == [], "ticks before the next sweep are free"
        keeper.tick(keeper.sweep_every, schedules)
        assert statements, "the next sweep comes sweep_every seconds later"
    finally:
        event.remove(harness.rt.store.engine, "before_cursor_execute", count)

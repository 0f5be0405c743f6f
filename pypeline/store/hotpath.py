"""The per-node hot path of the run store: one statement to claim a node, one to record its completion.

Statements are built once (module-level `text()` constructs with typed parameters), so a node pays
neither SQLAlchemy statement construction nor compilation; only parameters change per node.

- claim: one `UPDATE ... RETURNING` (on PostgreSQL on an autocommit connection that skips the commit's
  fsync wait: a lost claim is harmless, the node is QUEUED again and its unacked message redelivers);
- completion of a node whose plan only counts off successors (`FinishPlan.release_only`): on PostgreSQL
  one data-modifying CTE in autocommit (lock the run row, move the node, count off and release
  successors, count down the run), durable like any commit; on SQLite the same three statements in one
  transaction (no network: the cost there is Python, not round trips). The run's finalisation (once per
  run) follows in its own transaction; `RunStore.settle_run` repeats it for a redelivered message when a
  crash came between the two.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, DateTime, TextClause, bindparam, text

from pypeline.status import Status, allowed_sources
from pypeline.store.apply import RELEASE_TRANSITION
from pypeline.store.models import NodeRun, PipelineRun
from pypeline.store.rows import Pair, chunks

__all__ = ["claim", "status_statement", "FastFinish", "finish_postgres", "finish_sqlite", "FINISHABLE"]

_RUN = PipelineRun.__tablename__
_NODE = NodeRun.__tablename__
_TS = DateTime(timezone=True)
#: Statuses a running node may finish with, and the sources each may finish from.
FINISHABLE = {s: sorted(x.value for x in allowed_sources(s, node=True) & {Status.RUNNING, Status.RETRYING})
              for s in (Status.SUCCESS, Status.SKIPPED)}
_PENDING, _QUEUED = RELEASE_TRANSITION[0].value, RELEASE_TRANSITION[1].value


def _in(values: Sequence[str]) -> str:
    """An SQL list of fixed status literals (constants of this module, never user input)."""
    return ", ".join(f"'{v}'" for v in values)


def _claim_sql() -> TextClause:
    sources = _in(sorted(s.value for s in allowed_sources(Status.RUNNING, node=True)))
    running = Status.RUNNING.value
    return text(
        f"UPDATE {_NODE} SET status = '{running}', attempts = attempts + 1, task_id = :task_id, "
        "started_at = COALESCE(started_at, :now), updated_at = :now, lease_expires_at = :until, "
        "lease_holder = :holder "
        f"WHERE run_id = :run_id AND node = :node AND instance = :instance AND status IN ({sources}) "
        # a node running under a live lease is never run twice at once (see pypeline.store.leases.live_lease)
        f"AND NOT (status = '{running}' AND lease_expires_at IS NOT NULL AND lease_expires_at >= :now) "
        "RETURNING attempts"
    ).bindparams(bindparam("now", type_=_TS), bindparam("until", type_=_TS))


_CLAIM = _claim_sql()
#: The same claim as driver SQL (PostgreSQL/psycopg): no SQLAlchemy compilation or bind processing per node.
_CLAIM_PG = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", str(_CLAIM))
_STATUS = text(f"SELECT status, attempts FROM {_NODE} WHERE run_id = :run_id AND node = :node AND instance = :instance")


def claim(conn: Connection, params: dict[str, Any]) -> int | None:
    """The claim: QUEUED/RETRYING (or RUNNING under an expired lease) -> RUNNING with a fresh lease.

    Returns the node's attempt number, or None when the node may not start.
    """
    if conn.dialect.name == "postgresql":
        row = conn.exec_driver_sql(_CLAIM_PG, params).first()
    else:
        row = conn.execute(_CLAIM, params).first()
    return None if row is None else int(row[0])


def status_statement() -> TextClause:
    """A node row's (status, attempts)."""
    return _STATUS


@dataclass
class FastFinish:
    """What a one-statement completion changed."""

    moved: bool
    ready: list[Pair] = field(default_factory=list)
    nodes_left: int = 1
    run_status: str = ""

    @property
    def ends_run(self) -> bool:
        """True when no node of the run is left and the run is still live: it must be finalised now."""
        return self.moved and self.nodes_left <= 0 and self.run_status in (Status.RUNNING.value, Status.PAUSED.value)


@cache
def _finish_cte(status: Status) -> str:
    live = f"(SELECT status FROM run_row) = '{Status.RUNNING.value}'"
    ready = f"t.remaining - r.n <= 0 AND t.status = '{_PENDING}' AND {live}"
    return _pyformat(f"""
WITH run_row AS (SELECT id, status FROM {_RUN} WHERE id = :run_id FOR UPDATE),
moved AS (
  UPDATE {_NODE} SET status = '{status.value}', result = CAST(:result AS JSON), error = :error,
         result_summary = :summary, updated_at = :now, finished_at = :now
  WHERE run_id = (SELECT id FROM run_row) AND node = :node AND instance = :instance
    AND status IN ({_in(FINISHABLE[status])})
  RETURNING id),
released AS (
  UPDATE {_NODE} AS t SET remaining = t.remaining - r.n,
         status = CASE WHEN {ready} THEN '{_QUEUED}' ELSE t.status END,
         updated_at = CASE WHEN {ready} THEN :now ELSE t.updated_at END
  FROM unnest(CAST(:r_nodes AS text[]), CAST(:r_insts AS text[]), CAST(:r_counts AS int[])) AS r(node, inst, n)
  WHERE t.run_id = :run_id AND t.node = r.node AND t.instance = r.inst AND EXISTS (SELECT 1 FROM moved)
  RETURNING t.node, t.instance, t.remaining, t.status, r.n),
counted AS (
  UPDATE {_RUN} SET nodes_left = nodes_left - 1
  WHERE id = :run_id AND EXISTS (SELECT 1 FROM moved)
  RETURNING nodes_left, status)
SELECT 'n' AS kind, node, instance, remaining, status, n FROM released
UNION ALL SELECT 'r', NULL, NULL, nodes_left, status, NULL FROM counted
""")


def _pyformat(sql: str) -> str:
    """`:name` parameters as psycopg's `%(name)s` (driver SQL skips SQLAlchemy's per-statement work)."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)


def finish_postgres(
    conn: Connection, run_id: str, node: str, instance: str, status: Status, result: Any, error: str | None,
    summary: str, release: dict[Pair, int], now: datetime,
) -> FastFinish:
    """One statement (autocommit `conn`): finish the node, release its successors, count the run down."""
    params = {"run_id": run_id, "node": node, "instance": instance, "result": json.dumps(result), "error": error,
              "summary": summary, "now": now, "r_nodes": [n for n, _ in release],
              "r_insts": [i for _, i in release], "r_counts": list(release.values())}
    out = FastFinish(moved=False)
    for kind, name, inst, remaining, st, n in conn.exec_driver_sql(_finish_cte(status), params):
        if kind == "r":
            out.moved, out.nodes_left, out.run_status = True, remaining, st
        elif -n < remaining <= 0 and st == _QUEUED:  # moved by this statement: it had upstreams left before
            out.ready.append((name, inst))
    if not out.moved:
        out.ready = []
    return out


@cache
def _sqlite_statements(status: Status) -> tuple[TextClause, TextClause, TextClause]:
    move = text(
        f"UPDATE {_NODE} SET status = '{status.value}', result = :result, error = :error, "
        "result_summary = :summary, updated_at = :now, finished_at = :now "
        "WHERE run_id = :run_id AND node = :node AND instance = :instance "
        f"AND status IN ({_in(FINISHABLE[status])}) RETURNING id"
    ).bindparams(bindparam("now", type_=_TS), bindparam("result", type_=NodeRun.__table__.c.result.type))
    ready = (f"remaining - :n <= 0 AND status = '{_PENDING}' "
             f"AND (SELECT status FROM {_RUN} WHERE id = :run_id) = '{Status.RUNNING.value}'")
    release = text(
        f"UPDATE {_NODE} SET remaining = remaining - :n, "
        f"status = CASE WHEN {ready} THEN '{_QUEUED}' ELSE status END, "
        f"updated_at = CASE WHEN {ready} THEN :now ELSE updated_at END "
        "WHERE run_id = :run_id AND instance = :inst AND node IN :nodes RETURNING node, remaining, status"
    ).bindparams(bindparam("now", type_=_TS), bindparam("nodes", expanding=True))
    count = text(f"UPDATE {_RUN} SET nodes_left = nodes_left - 1 WHERE id = :run_id RETURNING nodes_left, status")
    return move, release, count


def finish_sqlite(
    conn: Connection, run_id: str, node: str, instance: str, status: Status, result: Any, error: str | None,
    summary: str, release: dict[Pair, int], now: datetime,
) -> FastFinish:
    """The same change as `finish_postgres` as three statements in the caller's transaction (SQLite)."""
    move, rel, count = _sqlite_statements(status)
    if conn.execute(move, {"run_id": run_id, "node": node, "instance": instance, "result": result, "error": error,
                           "summary": summary, "now": now}).first() is None:
        return FastFinish(moved=False)
    out = FastFinish(moved=True)
    groups: dict[tuple[str, int], list[str]] = {}
    for (succ, inst), n in release.items():
        groups.setdefault((inst, n), []).append(succ)
    for (inst, n), nodes in groups.items():
        for batch in chunks(nodes):
            rows = conn.execute(rel, {"run_id": run_id, "inst": inst, "n": n, "now": now, "nodes": list(batch)})
            out.ready.extend((name, inst) for name, remaining, st in rows if -n < remaining <= 0 and st == _QUEUED)
    out.nodes_left, out.run_status = conn.execute(count, {"run_id": run_id}).one()
    return out

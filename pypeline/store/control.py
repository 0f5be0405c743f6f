"""Run control in the run store: cancel, pause, resume, rerun and fail a run, each one guarded transaction.

Every transaction here locks the run row first (`status_for_update`) and node rows after it, the order
node completion uses too, so control racing completion never deadlocks.
"""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, bindparam, func, or_, select, update

from pypeline.status import ACTIVE, RunAction, Status, allowed_sources, check_action
from pypeline.store.models import NodeRun, PipelineRun, utcnow
from pypeline.store.retry import RetryPolicy, retrying
from pypeline.store.rows import CHUNK, Pair
from pypeline.store.transitions import finalize, move_nodes, move_run, queue_ready, status_for_update

__all__ = ["RunControl"]

_RUN = PipelineRun.__table__
_NODE = NodeRun.__table__


class RunControl:
    """Run-control operations of `RunStore` (a mixin: the store provides `engine` and `retry_policy`)."""

    engine: Engine
    retry_policy: RetryPolicy

    @retrying
    def cancel_run(self, run_id: str) -> list[str]:
        """Cancel a run: unstarted nodes never start; returns Celery task ids of running nodes to revoke."""
        with self.engine.begin() as conn:
            check_action(status_for_update(conn, run_id), RunAction.CANCEL)
            running = [r[0] for r in conn.execute(select(_NODE.c.task_id).where(
                _NODE.c.run_id == run_id, _NODE.c.status.in_([Status.RUNNING.value, Status.RETRYING.value]),
                _NODE.c.task_id.is_not(None)))]
            move_nodes(conn, run_id, None, Status.CANCELLED, instance=None,
                       only_from=(Status.PENDING, Status.QUEUED, Status.RUNNING, Status.RETRYING))
            move_run(conn, run_id, Status.CANCELLED, nodes_left=0)
        return running

    @retrying
    def pause_run(self, run_id: str) -> None:
        """Pause a run: running nodes finish, but no new node is dispatched until resume."""
        with self.engine.begin() as conn:
            check_action(status_for_update(conn, run_id), RunAction.PAUSE)
            move_run(conn, run_id, Status.PAUSED, finished_at=None)

    @retrying
    def resume_run(self, run_id: str) -> list[Pair]:
        """Resume a paused run; returns (node, instance) pairs that became ready while paused, now QUEUED."""
        with self.engine.begin() as conn:
            check_action(status_for_update(conn, run_id), RunAction.RESUME)
            move_run(conn, run_id, Status.RUNNING)
            ready = conn.execute(select(_NODE.c.node, _NODE.c.instance).where(
                _NODE.c.run_id == run_id, _NODE.c.status == Status.PENDING.value, _NODE.c.remaining <= 0)).all()
            pairs = [(n, i) for n, i in ready]
            for inst in {i for _, i in pairs}:
                move_nodes(conn, run_id, [n for n, i in pairs if i == inst], Status.QUEUED, instance=inst,
                           only_from=(Status.PENDING,))
            # Nothing left to run (every node finished while paused): finish the run now.
            left = conn.execute(select(_RUN.c.nodes_left).where(_RUN.c.id == run_id)).scalar_one()
            if left <= 0 and not pairs:
                finalize(conn, run_id)
        return pairs

    @retrying
    def restart_run(self, run_id: str, plan: dict[Pair, int]) -> list[Pair]:
        """Rerun a FAILED/CANCELLED run: `plan` rows go back to PENDING with their upstream counts; returns ready rows.

        Rows not in the plan keep their status and result (they are reused as upstream results).
        """
        now = utcnow()
        with self.engine.begin() as conn:
            check_action(status_for_update(conn, run_id), RunAction.RETRY)
            sources = [s.value for s in allowed_sources(Status.PENDING, node=True)]
            params = [{"b_node": n, "b_inst": i, "b_rem": r} for (n, i), r in plan.items()]
            for i in range(0, len(params), CHUNK):
                conn.execute(
                    update(_NODE).where(_NODE.c.run_id == run_id, _NODE.c.node == bindparam("b_node"),
                                        _NODE.c.instance == bindparam("b_inst"),
                                        or_(*(_NODE.c.status == src for src in sources)))  # no IN in executemany
                    .values(status=Status.PENDING.value, remaining=bindparam("b_rem"), error=None, traceback=None,
                            result=None, result_summary=None, finished_at=None, updated_at=now),
                    params[i : i + CHUNK])
            left = conn.execute(select(func.count()).select_from(_NODE).where(
                _NODE.c.run_id == run_id, _NODE.c.status.in_([s.value for s in ACTIVE]))).scalar_one()
            move_run(conn, run_id, Status.RUNNING, attempt=_RUN.c.attempt + 1, nodes_left=left,
                     failed_node=None, error=None, result=None, finished_at=None)
            ready = [pair for pair, remaining in plan.items() if remaining <= 0]
            queued = queue_ready(conn, run_id, ready, lambda: True)
            if left == 0:
                finalize(conn, run_id)
        return queued

    @retrying
    def fail_run(self, run_id: str, error: str) -> bool:
        """End an active run FAILED with `error` (its orchestration broke): unstarted nodes are skipped.

        Returns False when the run had ended already. Nodes still running finish normally but no longer
        change the run.
        """
        with self.engine.begin() as conn:
            if status_for_update(conn, run_id).is_terminal:
                return False
            move_nodes(conn, run_id, None, Status.SKIPPED, instance=None, only_from=(Status.PENDING, Status.QUEUED),
                       values={"error": f"run failed: {error}"})
            move_nodes(conn, run_id, None, Status.FAILED, instance=None, only_from=(Status.RETRYING,),
                       values={"error": f"run failed: {error}"})
            return move_run(conn, run_id, Status.FAILED, nodes_left=0, error=error)

    @retrying
    def requeue_nodes(self, run_id: str, nodes: Sequence[str], instance: str = "") -> list[str]:
        """Mark nodes QUEUED again before re-publishing them (lost-message recovery)."""
        with self.engine.begin() as conn:
            return move_nodes(conn, run_id, nodes, Status.QUEUED, instance=instance,
                              only_from=(Status.QUEUED, Status.PENDING))

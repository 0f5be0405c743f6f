"""Self-healing of runs: node lease heartbeats and the leader-elected reconciler every worker runs."""
from __future__ import annotations

from pypeline.reconciler.reconcile import PassReport, Reconciler

__all__ = ["Reconciler", "PassReport"]

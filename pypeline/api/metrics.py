"""Prometheus metrics read from the run store: runs by state, node runs by state, node duration histogram."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import case, func, select

from pypeline.errors import StoreError
from pypeline.runtime import Runtime
from pypeline.status import Status
from pypeline.store.models import NodeRun, PipelineRun

__all__ = ["StoreCollector", "render_metrics", "DURATION_BUCKETS", "CONTENT_TYPE_LATEST"]

#: Upper bounds (seconds) of the node duration histogram buckets; +Inf is implied.
DURATION_BUCKETS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
                                       3600.0)
_RUN = PipelineRun.__table__
_NODE = NodeRun.__table__


def _duration_seconds(dialect: str) -> Any:
    """SQL expression for finished_at - started_at in seconds on this dialect."""
    started, finished = _NODE.c.started_at, _NODE.c.finished_at
    if dialect == "postgresql":
        return func.extract("epoch", finished - started)
    if dialect == "sqlite":
        return (func.julianday(finished) - func.julianday(started)) * 86400.0
    raise StoreError(f"node duration metrics support PostgreSQL and SQLite, not {dialect!r}")


class StoreCollector:
    """A prometheus_client collector that queries the store at each scrape (no in-process state)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families."""
        engine = self.rt.store.engine
        with engine.connect() as conn:
            runs = conn.execute(select(_RUN.c.pipeline_id, _RUN.c.status, func.count())
                                .group_by(_RUN.c.pipeline_id, _RUN.c.status)).all()
            nodes = conn.execute(
                select(_RUN.c.pipeline_id, _NODE.c.status, func.count())
                .select_from(_NODE.join(_RUN, _NODE.c.run_id == _RUN.c.id))
                .group_by(_RUN.c.pipeline_id, _NODE.c.status)).all()
            dur = _duration_seconds(engine.dialect.name)
            bucket_cols = [func.sum(case((dur <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
            durations = conn.execute(
                select(_RUN.c.pipeline_id, _NODE.c.node, func.count(), func.coalesce(func.sum(dur), 0.0),
                       *bucket_cols)
                .select_from(_NODE.join(_RUN, _NODE.c.run_id == _RUN.c.id))
                .where(_NODE.c.status.in_([Status.SUCCESS.value, Status.FAILED.value]),
                       _NODE.c.started_at.is_not(None), _NODE.c.finished_at.is_not(None))
                .group_by(_RUN.c.pipeline_id, _NODE.c.node)).all()

        run_family = GaugeMetricFamily("pypeline_runs", "Pipeline runs in the store, by pipeline and status",
                                       labels=["pipeline", "status"])
        for pipeline_id, status, count in runs:
            run_family.add_metric([pipeline_id, status], float(count))
        yield run_family

        node_family = GaugeMetricFamily("pypeline_node_runs", "Node runs in the store, by pipeline and status",
                                        labels=["pipeline", "status"])
        for pipeline_id, status, count in nodes:
            node_family.add_metric([pipeline_id, status], float(count))
        yield node_family

        histogram = HistogramMetricFamily("pypeline_node_duration_seconds",
                                          "Seconds from start to end of finished node runs (success or failure)",
                                          labels=["pipeline", "node"])
        for row in durations:
            pipeline_id, node, count, total, *cumulative = row
            buckets = [(_le(bound), float(n or 0)) for bound, n in zip(DURATION_BUCKETS, cumulative, strict=True)]
            buckets.append(("+Inf", float(count)))
            histogram.add_metric([pipeline_id, node], buckets, sum_value=float(total or 0.0))
        yield histogram


def _le(bound: float) -> str:
    return repr(float(bound))


def render_metrics(rt: Runtime) -> bytes:
    """The Prometheus text exposition of the store's metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(rt))
    return generate_latest(registry)

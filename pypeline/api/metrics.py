"""Prometheus metrics read from the run store: runs by state, node runs by state, node duration histogram."""
from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric

from pypeline.runtime import Runtime
from pypeline.store.metrics import store_counts

__all__ = ["StoreCollector", "render_metrics", "DURATION_BUCKETS", "CONTENT_TYPE_LATEST"]

#: Upper bounds (seconds) of the node duration histogram buckets; +Inf is implied.
DURATION_BUCKETS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
                                       3600.0)


class StoreCollector:
    """A prometheus_client collector that queries the store at each scrape (no in-process state)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families."""
        counts = store_counts(self.rt.store.engine, DURATION_BUCKETS)
        run_family = GaugeMetricFamily("pypeline_runs", "Pipeline runs in the store, by pipeline and status",
                                       labels=["pipeline", "status"])
        for pipeline_id, status, count in counts.runs:
            run_family.add_metric([pipeline_id, status], float(count))
        yield run_family

        node_family = GaugeMetricFamily("pypeline_node_runs", "Node runs in the store, by pipeline and status",
                                        labels=["pipeline", "status"])
        for pipeline_id, status, count in counts.node_runs:
            node_family.add_metric([pipeline_id, status], float(count))
        yield node_family

        histogram = HistogramMetricFamily("pypeline_node_duration_seconds",
                                          "Seconds from start to end of finished node runs (success or failure)",
                                          labels=["pipeline", "node"])
        for row in counts.durations:
            buckets = [(_le(bound), float(n)) for bound, n in zip(DURATION_BUCKETS, row.cumulative, strict=True)]
            buckets.append(("+Inf", float(row.count)))
            histogram.add_metric([row.pipeline, row.node], buckets, sum_value=row.total_seconds)
        yield histogram


def _le(bound: float) -> str:
    return repr(float(bound))


def render_metrics(rt: Runtime) -> bytes:
    """The Prometheus text exposition of the store's metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(rt))
    return generate_latest(registry)

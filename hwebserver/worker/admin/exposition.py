"""/metrics in the Prometheus text format, built by prometheus_client from a snapshot of the
service (what the supervisor knows of every worker, see supervisor/metrics.py).

A collector of our own yields the metric families at each scrape: nothing is registered in
prometheus_client's global registry, and no per-request object exists in prometheus_client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ..common.messages import MetricsSnapshot, RetiredTotals, SupervisorFigures, WorkerFigures
from ..common.stats import DURATION_BUCKETS, STATUS_CLASSES

__all__ = ["CONTENT_TYPE_LATEST", "ServiceCollector", "render"]

Snapshot = MetricsSnapshot
WORKER_LABELS = ["pid", "generation"]
Figure = Callable[[WorkerFigures], float | int | None]  # one figure of a worker; None: not sent


def render(snapshot: Snapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(snapshot))
    return generate_latest(registry)


def _labels(worker: WorkerFigures) -> list[str]:
    return [str(worker.pid), str(worker.generation)]


def _bucket_pairs(counts: list[int]) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs from per-bucket counts, +Inf last."""
    pairs: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip([*map(str, DURATION_BUCKETS), "+Inf"], counts, strict=False):
        running += count
        pairs.append((bound, float(running)))
    return pairs


def _add(total: list[int], counts: list[int]) -> list[int]:
    if len(total) < len(counts):
        total = total + [0] * (len(counts) - len(total))
    return [a + b for a, b in zip(total, counts, strict=False)] + total[len(counts) :]


class ServiceCollector(Collector):
    """Totals over all workers (those gone included, so counters never go back) and per
    worker (pid, generation); the supervisor's own counters."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        workers = self.snapshot.workers
        yield from self._request_families(workers, self.snapshot.retired)
        yield from self._worker_gauges(workers)
        supervisor = self.snapshot.supervisor
        if supervisor is not None:
            yield from self._supervisor_families(supervisor)

    def _request_families(
        self, workers: list[WorkerFigures], retired: RetiredTotals
    ) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "hwebserver_requests", "Requests answered, by status class", labels=["status"]
        )
        per_worker = CounterMetricFamily(
            "hwebserver_worker_requests",
            "Requests answered by each worker, by status class",
            labels=[*WORKER_LABELS, "status"],
        )
        total_statuses: list[int] = list(retired.statuses)
        total_buckets: list[int] = list(retired.buckets)
        total_sum = float(retired.duration_sum)
        durations = HistogramMetricFamily(
            "hwebserver_worker_request_duration_seconds",
            "Time from a request's dispatch to its response handed to the socket, per worker",
            labels=WORKER_LABELS,
        )
        for worker in workers:
            statuses = list(worker.heartbeat.statuses or [])
            total_statuses = _add(total_statuses, statuses)
            for status_class, count in zip(STATUS_CLASSES, statuses, strict=False):
                per_worker.add_metric([*_labels(worker), status_class], count)
            buckets = list(worker.heartbeat.buckets or [])
            if buckets:
                total_buckets = _add(total_buckets, buckets)
                seconds = float(worker.heartbeat.duration_sum or 0.0)
                total_sum += seconds
                durations.add_metric(_labels(worker), _bucket_pairs(buckets), seconds)
        for status_class, count in zip(STATUS_CLASSES, total_statuses, strict=False):
            requests.add_metric([status_class], count)
        total = HistogramMetricFamily(
            "hwebserver_request_duration_seconds",
            "Time from a request's dispatch to its response handed to the socket",
        )
        if total_buckets:
            total.add_metric([], _bucket_pairs(total_buckets), total_sum)
        yield from (requests, total, per_worker, durations)

    def _worker_gauges(self, workers: list[WorkerFigures]) -> Iterator[Metric]:
        # A figure of each worker: how to read it (typed: mypy checks the field), its family.
        gauges: list[tuple[Figure, str, str]] = [
            (
                lambda w: w.heartbeat.in_flight,
                "hwebserver_worker_in_flight",
                "Requests being answered now",
            ),
            (
                lambda w: w.heartbeat.connections,
                "hwebserver_worker_connections",
                "Open HTTP connections",
            ),
            (
                lambda w: w.heartbeat.websockets,
                "hwebserver_worker_websockets",
                "Open WebSocket connections",
            ),
            (
                lambda w: w.heartbeat.lag,
                "hwebserver_worker_loop_lag_seconds",
                "Event loop lag at the last heartbeat",
            ),
            (
                lambda w: w.heartbeat.rss,
                "hwebserver_worker_rss_bytes",
                "Resident memory at the last heartbeat",
            ),
            (
                lambda w: w.uptime,
                "hwebserver_worker_uptime_seconds",
                "Seconds since the worker started",
            ),
            (
                lambda w: w.heartbeat.queued_calls,
                "hwebserver_worker_queued_calls",
                "Plain-handler calls waiting for a handler thread",
            ),
            (
                lambda w: w.heartbeat.oldest_call_wait,
                "hwebserver_worker_oldest_call_wait_seconds",
                "How long the oldest call waiting for a handler thread has waited",
            ),
        ]
        for figure, name, documentation in gauges:
            per_worker = GaugeMetricFamily(name, documentation, labels=WORKER_LABELS)
            for worker in workers:
                per_worker.add_metric(_labels(worker), float(figure(worker) or 0))
            yield per_worker
        totals: list[tuple[Figure, str, str]] = [
            (
                lambda w: w.heartbeat.in_flight,
                "hwebserver_in_flight",
                "Requests being answered now, all workers",
            ),
            (
                lambda w: w.heartbeat.connections,
                "hwebserver_connections",
                "Open HTTP connections, all workers",
            ),
            (
                lambda w: w.heartbeat.websockets,
                "hwebserver_websockets",
                "Open WebSocket connections, all workers",
            ),
        ]
        for figure, name, documentation in totals:
            yield GaugeMetricFamily(
                name, documentation, value=sum(float(figure(w) or 0) for w in workers)
            )
        served = CounterMetricFamily(
            "hwebserver_worker_served", "Requests served by each worker", labels=WORKER_LABELS
        )
        phases = GaugeMetricFamily(
            "hwebserver_worker_info",
            "One per worker process; its phase (booting, ready, retiring, stopping)",
            labels=[*WORKER_LABELS, "phase"],
        )
        for worker in workers:
            served.add_metric(_labels(worker), float(worker.heartbeat.served))
            phases.add_metric([*_labels(worker), worker.phase], 1.0)
        yield served
        yield phases
        yield GaugeMetricFamily(
            "hwebserver_workers", "Worker processes running", value=float(len(workers))
        )

    def _supervisor_families(self, supervisor: SupervisorFigures) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "hwebserver_supervisor_info",
            "The supervisor: its pid and the generation serving",
            labels=["pid", "generation"],
        )
        info.add_metric([str(supervisor.pid), str(supervisor.generation)], 1.0)
        yield info
        yield GaugeMetricFamily(
            "hwebserver_supervisor_uptime_seconds",
            "Seconds since the supervisor started",
            value=float(supervisor.uptime),
        )
        yield GaugeMetricFamily(
            "hwebserver_ready",
            "1 while the service accepts new work, 0 once a graceful shutdown began",
            value=0.0 if supervisor.shutting_down else 1.0,
        )
        reloads = CounterMetricFamily(
            "hwebserver_reloads", "Reloads, by outcome", labels=["outcome"]
        )
        reloads.add_metric(["succeeded"], float(supervisor.reloads_succeeded))
        reloads.add_metric(["failed"], float(supervisor.reloads_failed))
        yield reloads
        exits = CounterMetricFamily(
            "hwebserver_worker_exits", "Worker processes that exited, by cause", labels=["cause"]
        )
        for cause, count in sorted(supervisor.exits.items()):
            exits.add_metric([cause], float(count))
        yield exits
        yield CounterMetricFamily(
            "hwebserver_recycles",
            "Workers replaced for MAX_REQUESTS or MAX_WORKER_MEMORY",
            value=float(supervisor.recycles),
        )

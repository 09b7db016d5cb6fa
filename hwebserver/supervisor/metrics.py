"""What the supervisor counts for /metrics, and the snapshot it sends a worker that asks.

Counters of the service as a whole (reloads, worker exits by cause, recycles) live here; the
workers' own numbers come in their heartbeats (WorkerHandle.report). When a worker exits,
its request counts are added to `retired`, so the service's totals never go back.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from ..worker.common.messages import (
    MetricsSnapshot,
    RetiredTotals,
    SupervisorFigures,
    WorkerFigures,
)
from . import tree
from .handles import Phase, WorkerHandle


def _add(total: list[int], counts: list[int]) -> list[int]:
    total = total + [0] * max(0, len(counts) - len(total))
    for index, count in enumerate(counts):
        total[index] += int(count)
    return total


@dataclass
class ServiceCounters:
    started: float
    reloads_succeeded: int = 0
    reloads_failed: int = 0
    recycles: int = 0
    exits: Counter[str] = field(default_factory=Counter)
    retired_statuses: list[int] = field(default_factory=list)
    retired_buckets: list[int] = field(default_factory=list)
    retired_duration: float = 0.0

    def worker_exited(self, worker: WorkerHandle, code: int) -> None:
        self.exits[exit_cause(worker, code)] += 1
        report = worker.report
        self.retired_statuses = _add(self.retired_statuses, report.statuses or [])
        self.retired_buckets = _add(self.retired_buckets, report.buckets or [])
        self.retired_duration += report.duration_sum or 0.0

    def snapshot(
        self,
        workers: list[WorkerHandle],
        generation: int | None,
        shutting_down: bool,
        now: float,
    ) -> MetricsSnapshot:
        """What /metrics and `hwebserver status` show."""
        return MetricsSnapshot(
            SupervisorFigures(
                pid=os.getpid(),
                generation=generation,
                uptime=round(now - self.started, 3),
                shutting_down=shutting_down,
                reloads_succeeded=self.reloads_succeeded,
                reloads_failed=self.reloads_failed,
                recycles=self.recycles,
                exits=dict(self.exits),
            ),
            [_worker_entry(worker, now) for worker in workers if not worker.killed],
            RetiredTotals(self.retired_statuses, self.retired_buckets, self.retired_duration),
        )


def _worker_entry(worker: WorkerHandle, now: float) -> WorkerFigures:
    """Its last heartbeat, every field of it: a figure added to Heartbeat reaches /metrics
    without a change here."""
    return WorkerFigures(
        pid=worker.pid,
        generation=worker.generation.number,
        phase=worker.phase.value,
        uptime=round(now - worker.started, 3),
        heartbeat=worker.report,
    )


def exit_cause(worker: WorkerHandle, code: int) -> str:
    """A short label: drained (asked to leave), recycled, boot_failed, boot_timeout,
    unresponsive (no heartbeat), killed (a signal from outside), crashed (any other end)."""
    failure = worker.failure or ""
    if not failure and worker.phase in (Phase.RETIRING, Phase.STOPPING):
        return "recycled" if worker.recycle_reason is not None else "drained"
    if failure.startswith("failed to start"):
        return "boot_failed"
    if failure.startswith("sent no READY"):
        return "boot_timeout"
    if failure.startswith("sent no heartbeat"):
        return "unresponsive"
    if tree.killed_from_outside(code):
        return "killed"
    return "crashed"

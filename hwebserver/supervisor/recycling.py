"""Which worker to recycle: one at a time, only at full strength, for requests or memory."""

from __future__ import annotations

from .handles import MEMORY_SAMPLES, Generation, WorkerHandle

MIB = 1024 * 1024


def due_for_recycling(
    generation: Generation, target: int, max_memory: int
) -> tuple[WorkerHandle, str] | None:
    """A READY worker past its request limit (MAX_REQUESTS plus jitter) or whose RSS stayed
    above MAX_WORKER_MEMORY for several heartbeats, and why; None when none is due or when
    one is already being recycled or the generation is short of workers."""
    if any(worker.recycle_reason is not None for worker in generation.workers):
        return None
    ready = generation.ready()
    if len(ready) < target:
        return None
    for worker in ready:
        if worker.request_limit is not None and worker.served >= worker.request_limit:
            return worker, f"served {worker.served} requests (limit {worker.request_limit})"
        if worker.over_memory(max_memory):
            return worker, (
                f"RSS {min(worker.rss) // MIB} MiB stayed above MAX_WORKER_MEMORY "
                f"({max_memory // MIB} MiB) for {MEMORY_SAMPLES} heartbeats"
            )
    return None

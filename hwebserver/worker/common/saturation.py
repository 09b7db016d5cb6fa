"""Handler-thread saturation: plain handlers, API functions and WSGI apps run on a fixed pool of
threads, and calls beyond it wait. Every thread stuck (a handler waiting on a dead database)
leaves plain routes unanswered while the event loop, its heartbeat, /livez and /readyz look
healthy. Watched each second of the worker's clock: past HANDLER_QUEUE_WAIT of waiting, one
WARNING names the handlers holding the threads, with their stacks, and /readyz answers 503
(a load balancer sends traffic elsewhere) until the threads catch up, which is logged too.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

from .logs import ServerLog
from .threads import BusyThread, HandlerThreads


class SaturationWatch:
    def __init__(self, threads: HandlerThreads, limit: float, log: ServerLog) -> None:
        self.threads = threads
        self.limit = limit  # HANDLER_QUEUE_WAIT; 0: not watched
        self.log = log
        self.saturated_since: float | None = None  # the oldest wait when it was noticed

    @property
    def saturated(self) -> bool:
        """Now, not at the last check: the oldest queued call waited past the limit."""
        if self.limit <= 0:
            return False
        _queued, waited = self.threads.backlog()
        return waited > self.limit

    def check(self, now: float) -> None:
        """Each tick of the worker's clock (`now`: the loop's time)."""
        self.threads.sample()  # for /metrics too: sampled whatever the limit
        if self.limit <= 0:
            return
        queued, waited = self.threads.backlog()
        if waited > self.limit and self.saturated_since is None:
            self.saturated_since = now - waited
            self.log.warning(
                "worker %d: every handler thread (%d) busy, %d call(s) queued, the oldest for "
                "%.1fs (HANDLER_QUEUE_WAIT %gs): /readyz answers 503 until they catch up. "
                "The threads hold:\n%s",
                os.getpid(),
                self.threads.size,
                queued,
                waited,
                self.limit,
                describe(self.threads.busy()),
            )
        elif waited <= self.limit and self.saturated_since is not None:
            self.log.warning(
                "worker %d: handler threads caught up after %.1fs of calls waiting",
                os.getpid(),
                now - self.saturated_since,
            )
            self.saturated_since = None


def describe(busy: list[BusyThread]) -> str:
    """Each busy thread: the handler it runs (and the request), then its stack."""
    frames = sys._current_frames()
    parts = []
    for thread in busy:
        frame = frames.get(thread.ident)
        stack = "".join(traceback.format_stack(frame)) if frame is not None else ""
        parts.append(f"{thread.name}: {handler_name(thread.function, thread.argument)}\n{stack}")
    return "".join(parts).rstrip("\n") or "(no thread in a call: calls are being handed over)"


def handler_name(function: Any, argument: Any) -> str:
    name = getattr(function, "__qualname__", None) or repr(function)
    module = getattr(function, "__module__", None)
    described = f"{module}.{name}" if module else str(name)
    method = getattr(argument, "http_method", None)
    path = getattr(argument, "url_path", None)
    if isinstance(method, str) and isinstance(path, str):
        described += f" ({method} {path})"
    return described

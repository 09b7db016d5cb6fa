"""How a plain (synchronous) handler is called: on the event loop, or in the thread pool.

A thread hop costs more than a whole hello-world request, yet a slow plain handler must
never stall the other connections. So every plain handler starts in the pool, where its
duration is measured. One whose last PROMOTE_AFTER calls each finished within
INLINE_HANDLER_BUDGET is promoted to run directly on the event loop; if an inline call then overruns five budgets, the handler is
demoted back to the pool to be measured again, and after three demotions it stays there.
At most `max_num_threads` plain handlers run at once either way: the loop calls one inline
only while the pool has a free thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..api.routing import Route

if TYPE_CHECKING:
    from .state import WorkerState

LEARNING = 0  # run in the pool and measure
INLINE = 1  # run on the event loop
POOL = 2  # always in the pool

OVERRUN_FACTOR = 5
MAX_DEMOTIONS = 3
PROMOTE_AFTER = 3


def timed_call(endpoint: Callable[[Any], Any], request: Any) -> tuple[bool, Any, float]:
    """Runs in a pool thread: (succeeded, result or exception, seconds)."""
    started = time.perf_counter()
    try:
        result = endpoint(request)
    except Exception as exc:
        return False, exc, time.perf_counter() - started
    return True, result, time.perf_counter() - started


def record_pool_call(state: WorkerState, route: Route, elapsed: float) -> None:
    if state.inline_budget <= 0 or elapsed >= state.inline_budget:
        route.fast_calls = 0
        return
    route.fast_calls += 1
    if route.fast_calls >= PROMOTE_AFTER:
        route.dispatch_mode = INLINE
        state.log.lifecycle("handler %s runs inline (%.3f ms)", route.path, elapsed * 1000)


def record_inline_call(state: WorkerState, route: Route, elapsed: float) -> None:
    if elapsed <= state.inline_budget * OVERRUN_FACTOR:
        return
    route.demotions += 1
    route.fast_calls = 0
    route.dispatch_mode = POOL if route.demotions >= MAX_DEMOTIONS else LEARNING
    state.log.lifecycle(
        "handler %s took %.1f ms on the event loop: moved to the thread pool",
        route.path,
        elapsed * 1000,
    )

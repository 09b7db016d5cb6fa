"""How a plain (synchronous) handler is called: on the event loop, or in the thread pool.

A thread hop costs more than a whole hello-world request, yet a slow plain handler must
never stall the other connections. So every plain handler starts in the pool, where its
duration is measured. One whose last PROMOTE_AFTER calls each finished within
INLINE_HANDLER_BUDGET is promoted to run directly on the event loop; if an inline call then overruns five budgets, the handler is
demoted back to the pool to be measured again, and after three demotions it stays there.
At most `max_num_threads` plain handlers run at once either way: the loop calls one inline
only while the pool has a free thread.

The same learning applies to anything with `dispatch_mode`, `demotions` and `path` (a
DispatchLearner): a Route, or one API function behind the single /api route, which async
endpoints call through WorkerCalls.call_plain.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..api.connection import DispatchLearner
from ..api.routing import DISPATCH_EXCHANGE

if TYPE_CHECKING:
    from .state import WorkerState

LEARNING = 0  # run in the pool and measure
INLINE = 1  # run on the event loop
POOL = 2  # always in the pool
EXCHANGE = DISPATCH_EXCHANGE  # not a plain handler: worker/exchange.py runs it

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


def timed_call_with(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[bool, Any, float]:
    """timed_call for a function with arguments."""
    started = time.perf_counter()
    try:
        result = function(*args, **kwargs)
    except Exception as exc:
        return False, exc, time.perf_counter() - started
    return True, result, time.perf_counter() - started


def record_pool_call(state: WorkerState, route: DispatchLearner, elapsed: float) -> None:
    if state.inline_budget <= 0 or elapsed >= state.inline_budget:
        route.fast_calls = 0
        return
    route.fast_calls += 1
    if route.fast_calls >= PROMOTE_AFTER:
        route.dispatch_mode = INLINE
        state.log.lifecycle("handler %s runs inline (%.3f ms)", route.path, elapsed * 1000)


def record_inline_call(state: WorkerState, route: DispatchLearner, elapsed: float) -> None:
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


class WorkerCalls:
    """The worker's side of api.connection.WorkerServices: an async endpoint awaits
    call_plain() to run a plain function under the policy of plain handlers, learned per
    `learner`. An inline call completes without suspending, so the endpoint's coroutine still
    finishes in its first step (no task is created for it)."""

    def __init__(self, state: WorkerState) -> None:
        self.state = state
        self.debug = state.debug

    async def call_plain(
        self,
        learner: DispatchLearner,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        state = self.state
        if learner.dispatch_mode == INLINE and state.pool_in_use < state.config.max_num_threads:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                record_inline_call(state, learner, time.perf_counter() - started)
        state.pool_in_use += 1
        future = state.loop.run_in_executor(state.pool, timed_call_with, function, args, kwargs)
        future.add_done_callback(self._release)
        ok, value, elapsed = await future
        if learner.dispatch_mode == LEARNING:
            record_pool_call(state, learner, elapsed)
        if ok:
            return value
        raise value

    def _release(self, future: asyncio.Future[Any]) -> None:
        self.state.pool_in_use -= 1

"""Run a coroutine's first step at once, and a task only if it really waits.

Most handlers finish without awaiting anything that blocks; creating a Task for them costs
more than the handler. Python 3.12 has eager tasks built in; this does the same on 3.10+.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any

_NOT_DONE = object()


def step_eagerly(coro: Coroutine[Any, Any, Any], context: contextvars.Context) -> tuple[Any, Any]:
    """(result, None) when the coroutine finished in its first step, else (_NOT_DONE, yielded)."""
    try:
        yielded = context.run(coro.send, None)
    except StopIteration as stop:
        return stop.value, None
    return _NOT_DONE, yielded


async def _drive(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    """Continue a coroutine that yielded `yielded` (a future, or None for a bare yield)."""
    while True:
        error: BaseException | None = None
        try:
            if yielded is None:
                await asyncio.sleep(0)
            else:
                # The coroutine's own yield marked the future as awaited; a Task clears the
                # mark when it takes the future over, and so must we, or awaiting it fails.
                yielded._asyncio_future_blocking = False
                await yielded
        except BaseException as exc:
            # A future's own outcome reaches the coroutine through the future when resumed;
            # only a cancellation during a bare yield must be thrown in explicitly.
            if yielded is None:
                error = exc
        try:
            yielded = coro.send(None) if error is None else coro.throw(error)
        except StopIteration as stop:
            return stop.value


def start(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """(True, result) if the coroutine completed at once; (False, task) otherwise.

    Exceptions of a coroutine that fails in its first step propagate to the caller.
    """
    context = contextvars.copy_context()
    result, yielded = step_eagerly(coro, context)
    if result is not _NOT_DONE:
        return True, result
    return False, loop.create_task(_drive(coro, yielded), context=context)

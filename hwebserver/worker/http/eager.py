"""Run a coroutine's first step at once, and a task only if it really waits.

Most handlers finish without awaiting anything that blocks; creating a Task for them costs
more than the handler. Python 3.12 has eager tasks built in; this does the same on 3.10+.
"""

from __future__ import annotations

import asyncio
import contextvars
import types
from collections.abc import Coroutine, Generator
from typing import Any

from ...api.tracebacks import carried, contained

_DONE = object()


@types.coroutine
def _capture(coro: Coroutine[Any, Any, Any], box: list[Any]) -> Generator[Any, None, None]:
    """Run `coro` inside a generator, so next(gen, _DONE) ends it without raising StopIteration.

    Catching StopIteration in Python costs more than the rest of a small handler's dispatch.
    """
    box.append((yield from coro))


async def _drive(gen: Generator[Any, None, None], yielded: Any, box: list[Any]) -> Any:
    """Continue a handler that yielded `yielded` (a future, or None for a bare yield)."""
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
        except GeneratorExit:
            # This coroutine is being closed (its task collected, the loop gone): the handler
            # is closed with it, at its own await, and none of its code runs as if resumed.
            gen.close()
            raise
        except BaseException as exc:
            # A future's own outcome reaches the coroutine through the future when resumed;
            # only a cancellation during a bare yield must be thrown in explicitly.
            if yielded is None:
                error = exc
        try:
            yielded = gen.send(None) if error is None else gen.throw(error)
        except StopIteration:
            return box[0]
        except BaseException as exc:
            # A SystemExit or KeyboardInterrupt would leave the Task and stop the loop, and
            # with it every connection of the worker: the code's failure instead.
            failure = contained(exc)
            if failure is exc:
                raise
            raise failure from exc


def start(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """(True, result) if the coroutine completed at once; (False, task) otherwise.

    Exceptions of a coroutine that fails in its first step propagate to the caller, as an
    Exception or a CancelledError (what is neither becomes a RuntimeError: see contained).
    """
    context = contextvars.copy_context()
    box: list[Any] = []
    gen = _capture(coro, box)
    try:
        yielded = context.run(next, gen, _DONE)
    except BaseException as exc:
        # A GeneratorExit here is the code's own: nothing closes a coroutine in its first step.
        failure = carried(exc) if isinstance(exc, GeneratorExit) else contained(exc)
        if failure is exc:
            raise
        raise failure from exc
    if yielded is _DONE:
        return True, box[0]
    return False, _task_in(loop, _drive(gen, yielded, box), context)


def failure_of(task: asyncio.Task[Any]) -> BaseException | None:
    """What a finished task's code raised, None if it returned: its own CancelledError too
    (task.exception() raises that one rather than return it)."""
    try:
        return task.exception()
    except asyncio.CancelledError as cancelled:
        return cancelled


def _task_in(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], context: contextvars.Context
) -> asyncio.Task[Any]:
    """A task continuing in `context`."""
    return loop.create_task(coro, context=context)

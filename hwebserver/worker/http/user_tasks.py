"""Starting user code on the event loop: every coroutine of a service's own code runs inside
an asyncio Task of its own from its first line.

That is what async Python takes for granted: `asyncio.current_task()` is the code's task, so
`asyncio.timeout`, `TaskGroup`, `wait_for`, `current_task().cancel()`, anyio's cancel scopes
and task groups, and httpx's async client work wherever they appear. Every kind of user
coroutine is started here (async urlHandlers and API functions, AsyncURLHandler.handle, ASGI
apps and their lifespans, both kinds of WebSocket): one place decides how a task starts and
what reaches the server when it ends.

- On Python 3.12+ the task starts eagerly (`eager_start`): its first step runs at once, inside
  the task, so code that does not really wait (most handlers) is answered before start()
  returns and never goes through the loop's queue. Python 3.11 has no eager start: the task's
  first step is the loop's next callback.
- The outcome goes to `done(subject, error, result)`, called from the task itself as the code
  ends (no done-callback, which would wait for one more turn of the loop): `error` is None
  when the code returned `result`, else what it raised. A SystemExit or KeyboardInterrupt is
  carried as a RuntimeError (see tracebacks.contained): in a task it would stop the loop, and
  every connection of the worker with it.
- Each task runs in the context it is given: a fresh copy per request, so that context
  variables set by one request are never seen by another (done() may start the next request
  of a connection from inside the task that just ended).
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ...api.tracebacks import contained_in

S = TypeVar("S")

# What a task's end hands the server: the subject it was started for, what the code raised
# (None if it returned) and what it returned.
Done = Callable[[S, BaseException | None, Any], None]


async def _run(coro: Coroutine[Any, Any, Any], done: Done[S], subject: S) -> None:
    own_task = asyncio.current_task()
    try:
        result = await coro
    except BaseException as exc:
        # A GeneratorExit that is this task being closed from outside (collected, the loop
        # gone) is raised again by contained_in: nothing more may run, nor be reported.
        error = contained_in(exc, own_task)
        done(subject, error, None)
        if isinstance(exc, asyncio.CancelledError):
            raise  # the task ends cancelled, as it was
        return
    done(subject, None, result)


if sys.version_info >= (3, 12):

    def _task(
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, None],
        context: contextvars.Context,
        eager: bool,
    ) -> asyncio.Task[None]:
        return asyncio.Task(coro, loop=loop, context=context, eager_start=eager)

else:

    def _task(
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, None],
        context: contextvars.Context,
        eager: bool,
    ) -> asyncio.Task[None]:
        return loop.create_task(coro, context=context)


def start(
    loop: asyncio.AbstractEventLoop,
    context: contextvars.Context,
    coro: Coroutine[Any, Any, Any],
    done: Done[S],
    subject: S,
    eager: bool = True,
) -> asyncio.Task[None]:
    """Run `coro` in a task of its own, in `context`; `done(subject, error, result)` when it
    ends. With `eager` (Python 3.12+) its first step runs before this returns, and a
    coroutine that does not really wait has ended, and called done(), by then.

    `eager=False` for code started where the caller's own state is not settled yet (a
    WebSocket's connect() is started from inside the parsing of its upgrade request)."""
    runner = _run(coro, done, subject)
    try:
        return _task(loop, runner, context, eager)
    except BaseException:
        runner.close()  # never started: neither coroutine is left "never awaited"
        coro.close()
        raise

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
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

from ...api.internal.tracebacks import contained

S = TypeVar("S")

# What a task's end hands the server: the subject it was started for, what the code raised
# (None if it returned) and what it returned.
Done = Callable[[S, BaseException | None, Any], None]


async def _run(
    coro: Coroutine[Any, Any, Any] | None,
    done: Done[S],
    subject: S,
    primed: bool = False,
    make: Callable[[S], Coroutine[Any, Any, Any]] | None = None,
) -> None:
    if primed:
        try:
            await _first_step()
        except BaseException as exc:  # cancelled (or closed) before the task's first step
            if coro is not None:
                coro.close()  # it never began: closed without a "never awaited" warning
            if exc.__class__ is not GeneratorExit:
                done(subject, contained(exc), None)
            raise
    try:
        if make is not None:
            coro = make(subject)
        assert coro is not None
        result = await coro
    except BaseException as exc:
        if closed_from_outside(exc):
            raise  # the task is collected or the loop is gone: nothing more may run
        error = contained(exc)
        done(subject, error, None)
        if isinstance(exc, asyncio.CancelledError):
            raise  # the task ends cancelled, as it was
        return
    done(subject, None, result)


@types.coroutine
def _first_step() -> Generator[None, None, None]:
    """Where a task that does not start eagerly (Python 3.11; eager=False) has its runner
    wait: start() runs the runner to here before making the task (priming costs a send, not a
    turn of the loop). A task cancelled before its first step has the cancellation thrown
    into its coroutine; into one that never ran, it would end without running a line, and
    done() would never be called (the request would hang). Primed, the runner catches it
    here and reports it. The task's first step resumes from here, in the task."""
    yield


def closed_from_outside(exc: BaseException) -> bool:
    """Whether `exc`, caught around user code, is a GeneratorExit of the task's coroutine
    being closed (collected, the loop gone), to be let through, rather than one the code
    raised. Closing it raises GeneratorExit at its own suspension point, after the code it
    awaits was closed: the traceback has no frame beyond ours. One the code raised comes up
    through the code's own frames. (Also for code that runs user code in a task it keeps: a
    WebSocket connection's.)"""
    if exc.__class__ is not GeneratorExit:
        return False
    tb = exc.__traceback__
    return tb is None or tb.tb_next is None


if sys.version_info >= (3, 12):

    def start(
        loop: asyncio.AbstractEventLoop,
        context: contextvars.Context,
        coro: Coroutine[Any, Any, Any] | None,
        done: Done[S],
        subject: S,
        name: str,
        eager: bool = True,
        make: Callable[[S], Coroutine[Any, Any, Any]] | None = None,
    ) -> asyncio.Task[None]:
        """Run `coro` in a task of its own named `name`, in `context`; `done(subject, error,
        result)` when it ends. With `eager` its first step runs before this returns: a
        coroutine that does not really wait has ended, and called done(), by then.

        `eager=False` for code started where the caller's own state is not settled yet (a
        WebSocket's connect() is started from inside the parsing of its upgrade request).
        `make` instead of `coro`: the coroutine is made by `make(subject)` in the task's
        first step (a fault making it reaches done() as the coroutine's own would)."""
        runner = _run(coro, done, subject, not eager, make)
        try:
            if not eager:
                runner.send(None)  # primed: see _first_step
            return asyncio.Task(runner, loop=loop, name=name, context=context, eager_start=eager)
        except BaseException:
            _never_started(runner, coro)
            raise

else:

    def start(
        loop: asyncio.AbstractEventLoop,
        context: contextvars.Context,
        coro: Coroutine[Any, Any, Any] | None,
        done: Done[S],
        subject: S,
        name: str,
        eager: bool = True,
        make: Callable[[S], Coroutine[Any, Any, Any]] | None = None,
    ) -> asyncio.Task[None]:
        """Run `coro` in a task of its own named `name`, in `context`; `done(subject, error,
        result)` when it ends. Python 3.11 has no eager start: the task's first step is the
        loop's next callback, whatever `eager` says.

        `make` instead of `coro`: the coroutine is made by `make(subject)` in the task's
        first step (a fault making it reaches done() as the coroutine's own would). Here,
        where that step waits for the loop's next turn, what the coroutine needs (an ASGI
        scope, its dicts and lists) is then made as the task runs, not while the
        connection's bytes are parsed: a burst of requests read in one turn holds fewer new
        objects at once, and the cyclic garbage collector, which counts them, runs less."""
        runner = _run(coro, done, subject, True, make)
        try:
            runner.send(None)  # primed: see _first_step
            # Not loop.create_task(): uvloop's names the task "Task-N", formatted per call,
            # before it sets the name given.
            return asyncio.Task(runner, loop=loop, name=name, context=context)
        except BaseException:
            _never_started(runner, coro)
            raise


def _never_started(
    runner: Coroutine[Any, Any, None], coro: Coroutine[Any, Any, Any] | None
) -> None:
    """Neither coroutine is left to warn that it was never awaited."""
    runner.close()
    if coro is not None:
        coro.close()


# -- what a drain waits for ------------------------------------------------------------------


def running(loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[Any]]:
    """The tasks start() made that have not ended: user code left to finish after its client
    went away (docs/guide.md), or still at work after its answer, which a worker's drain
    waits for. Found when asked (all_tasks holds only unfinished tasks), so that no request
    pays for bookkeeping."""
    return [
        task
        for task in asyncio.all_tasks(loop)
        if getattr(task.get_coro(), "cr_code", None) is _run.__code__
    ]

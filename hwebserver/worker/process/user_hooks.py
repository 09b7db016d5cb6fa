"""Running the service's @onWorkerStart and @onWorkerStop hooks (api/worker_hooks.py).

Every kind of server runs them through WorkerServer.start() and drain() (process/server.py):
a supervised worker, the in-process server of run(in_background=True), the server in the
calling thread. A plain hook runs on a thread of its own, never on the event loop (it would
stall the loop, and a hook that overruns could not be cut); an `async def` hook runs as a
task on the loop, started as every user coroutine is (http/user_tasks.py). Either is waited for
with a deadline.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

from ...api.internal.tracebacks import contained, without_server_frames
from ...api.routing import is_async_callable
from ...api.worker_hooks import Hook, describe, worker_hooks
from ..common.logs import ServerLog
from ..http import user_tasks


class HookTimeout(Exception):
    """A start hook still ran when its time was up: the worker cannot report ready."""


def has_stop_hooks() -> bool:
    return bool(worker_hooks.stop)


async def run_start_hooks(timeout: float) -> None:
    """Each start hook in turn; what one raises is raised here, its traceback trimmed to the
    hook's own frames, and the hooks after it do not run."""
    for hook in worker_hooks.start:
        try:
            finished = await _run(hook, timeout)
        except BaseException as exc:
            without_server_frames(exc)
            raise
        if not finished:
            raise HookTimeout(
                f"onWorkerStart hook {describe(hook)} did not finish within {timeout:g}s "
                "(WORKER_BOOT_TIMEOUT)"
            )


async def run_stop_hooks(log: ServerLog, timeout: float, why: str = "GRACEFUL_TIMEOUT") -> None:
    """Each stop hook in turn, all of them within `timeout`: one that raises is logged and the
    next runs; the one running at the deadline is cut, and those after it are skipped."""
    hooks = worker_hooks.stop
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for index, hook in enumerate(hooks):
        remaining = deadline - loop.time()
        if remaining <= 0:
            skipped = ", ".join(describe(each) for each in hooks[index:])
            log.error("onWorkerStop hooks not run, no time left (%s): %s", why, skipped)
            return
        try:
            finished = await _run(hook, remaining)
        except Exception as exc:
            log.error(
                "onWorkerStop hook %s raised %s",
                describe(hook),
                type(exc).__name__,
                exc_info=without_server_frames(exc),
            )
            continue
        if not finished:
            skipped = ", ".join(describe(each) for each in hooks[index + 1 :])
            log.error(
                "onWorkerStop hook %s still ran after %gs (%s): cut%s",
                describe(hook),
                timeout,
                why,
                f"; not run: {skipped}" if skipped else "",
            )
            return


async def _run(hook: Hook, timeout: float) -> bool:
    """Call `hook` and wait at most `timeout` seconds: True when it finished (what it raised is
    raised), False when it was cut (a task is cancelled; a thread cannot be, and is left)."""
    if is_async_callable(hook):
        waited, task = _call_async(hook)
    else:
        waited, task = _call_on_thread(hook), None
    done, _ = await asyncio.wait({waited}, timeout=timeout)
    if not done:
        if task is not None:
            task.cancel()  # it stops at its next await
        waited.cancel()  # a thread's outcome is only dropped
        return False
    waited.result()
    return True


def _call_async(hook: Hook) -> tuple[asyncio.Future[Any], asyncio.Task[None]]:
    """The hook in a task of its own, started as every user coroutine is (http/user_tasks.py):
    a SystemExit in it fails the hook, not the loop. The future settles as the task ends."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    task = user_tasks.start(
        loop, contextvars.copy_context(), hook(), _settle, future, f"hook {describe(hook)}"
    )
    return future, task


def _settle(future: asyncio.Future[Any], error: BaseException | None, result: Any) -> None:
    if future.done():
        return  # cut already
    if error is None:
        future.set_result(result)
    elif isinstance(error, asyncio.CancelledError):
        future.cancel()  # cancelled from inside: raised as CancelledError by result()
    else:
        future.set_exception(error)


def _call_on_thread(hook: Hook) -> asyncio.Future[Any]:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            return  # cut already
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)

    def call() -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            value = hook()
        except BaseException as exc:
            error = contained(exc)
        try:
            loop.call_soon_threadsafe(settle, value, error)
        except RuntimeError:
            pass  # the loop closed: the hook was cut long ago

    threading.Thread(target=call, name=f"hwebserver-hook-{describe(hook)}", daemon=True).start()
    return future

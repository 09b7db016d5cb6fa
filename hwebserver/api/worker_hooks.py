"""@onWorkerStart and @onWorkerStop: the service's own code at the start and end of a worker.

The decorators only record the functions, at import time, in registration order; the worker
runs them (worker/process/user_hooks.py). Houdini has no such hooks: its server is one
process, so a script sets up before run(). Here a worker is a process of its own (forked or
spawned), and what must live in each one (a database connection, a job-runner thread, a warm
cache) needs a place that runs there before it serves, and another when it drains.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

Hook = Callable[[], Any]
HookT = TypeVar("HookT", bound=Callable[[], Any])


class WorkerHooks:
    """The registered start and stop hooks, in registration order (a registry: see
    api/internal/registries.py)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.start: tuple[Hook, ...] = ()
        self.stop: tuple[Hook, ...] = ()

    def add(self, start: Hook | None = None, stop: Hook | None = None) -> None:
        with self._lock:  # tuples, replaced whole: a worker reading them sees one or the other
            if start is not None:
                self.start = (*self.start, start)
            if stop is not None:
                self.stop = (*self.stop, stop)

    def clear(self) -> None:
        self.restore(((), ()))

    def snapshot(self) -> tuple[tuple[Hook, ...], tuple[Hook, ...]]:
        return self.start, self.stop

    def restore(self, state: tuple[tuple[Hook, ...], tuple[Hook, ...]]) -> None:
        with self._lock:
            self.start, self.stop = state


worker_hooks = WorkerHooks()


def _check_hook(decorator: str, function: object) -> None:
    """A hook is called with no argument: one that needs any is refused at registration."""
    if not callable(function):
        raise TypeError(f"@hwebserver.{decorator} expects a function, got {function!r}")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return  # a builtin without a signature: called as it is
    required = [
        parameter.name
        for parameter in signature.parameters.values()
        if parameter.default is parameter.empty
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]
    if required:
        name = getattr(function, "__qualname__", repr(function))
        raise TypeError(
            f"@hwebserver.{decorator}: {name}() is called without arguments, "
            f"but requires {', '.join(required)}"
        )


def onWorkerStart(function: HookT) -> HookT:
    """Run `function()` in every worker before it serves its first request.

    Plain or `async def`, without arguments; any number, run in registration order. A
    worker runs its start hooks after the script's imports (module state is there) and
    before it accepts a connection or reports ready: once per worker process, in generation
    0 and in every reload, and once in the process that called `run(in_background=True)`.
    A plain hook runs on a thread of its own, an `async def` hook as a task on the worker's
    event loop (whose loop it may use: `asyncio.get_running_loop()`).

    A start hook that raises fails that worker's boot: on a reload the old workers keep
    serving and the log shows the hook's traceback; at the first start `run()` raises
    `OperationFailed` naming the exception.

    Example:
        ```python
        @hwebserver.onWorkerStart
        def open_database():
            global db
            db = sqlite3.connect("jobs.db", check_same_thread=False)
        ```
    """
    _check_hook("onWorkerStart", function)
    worker_hooks.add(start=function)
    return function


def onWorkerStop(function: HookT) -> HookT:
    """Run `function()` in every worker when it stops, after its last request.

    Plain or `async def`, without arguments; any number, run in registration order. A
    worker runs its stop hooks once it drained (a reload retires it, the service shuts down,
    `requestShutdown()`), after every connection finished or was cut, and in the process
    that called `run(in_background=True)` when that server stops (also at interpreter exit).
    A hook that raises is logged and the next one runs. Together the stop hooks get
    `GRACEFUL_TIMEOUT` seconds: a hook still running then is cut (an `async def` hook is
    cancelled; a plain one is left behind as the process exits), logged, and the hooks
    after it are skipped. A worker killed (`kill -9`, out of memory) runs none.

    Example:
        ```python
        @hwebserver.onWorkerStop
        def close_database():
            db.close()
        ```
    """
    _check_hook("onWorkerStop", function)
    worker_hooks.add(stop=function)
    return function


def describe(hook: Hook) -> str:
    """How the log names a hook: its qualified name, after its module's unless that is the
    script itself (`__main__`)."""
    module = getattr(hook, "__module__", None)
    name = getattr(hook, "__qualname__", None) or repr(hook)
    return f"{module}.{name}" if module and module != "__main__" else name

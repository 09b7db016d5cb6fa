"""A service with @onWorkerStart and @onWorkerStop hooks. Every hook that runs appends a line
`<what> <pid>` to the file HOOKS_LOG names; files in the directory HOOKS_CONTROL names steer
the hooks:

- `fail-start`: the start hook that opens the "database" raises (RuntimeError);
- `stop-raises`: the second stop hook raises (the third must run all the same);
- `stop-hangs`: the last stop hook sleeps a minute (cut at GRACEFUL_TIMEOUT).

/hooked answers `<pid> <pid the start hooks ran in> <plain runs> <async runs>`: a worker that
ran its start hooks once before serving answers `P P 1 1`.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from harness import serve

import hwebserver

LOG = Path(os.environ["HOOKS_LOG"])
CONTROL = Path(os.environ["HOOKS_CONTROL"])
started_in: int | None = None
plain_runs = 0
async_runs = 0


def note(what: str) -> None:
    with LOG.open("a") as file:
        file.write(f"{what} {os.getpid()}\n")


@hwebserver.onWorkerStart
def open_database() -> None:
    global started_in, plain_runs
    if (CONTROL / "fail-start").exists():
        raise RuntimeError("the database is down")
    started_in = os.getpid()
    plain_runs += 1
    note("start-plain")


@hwebserver.onWorkerStart
async def warm_cache() -> None:
    global async_runs
    assert asyncio.current_task() is not None  # a task on the worker's loop
    await asyncio.sleep(0.05)
    async_runs += 1
    note("start-async")


@hwebserver.onWorkerStop
def flush() -> None:
    note("stop-plain")


@hwebserver.onWorkerStop
def flaky_close() -> None:
    if (CONTROL / "stop-raises").exists():
        raise RuntimeError("the connection was already closed")


@hwebserver.onWorkerStop
async def close_pool() -> None:
    await asyncio.sleep(0.05)
    note("stop-async")


@hwebserver.onWorkerStop
def hanging_stop() -> None:
    if (CONTROL / "stop-hangs").exists():
        note("stop-hangs")
        time.sleep(60)
        note("stop-hang-over")


@hwebserver.urlHandler("/hooked")
def hooked(request: hwebserver.Request) -> str:
    return f"{os.getpid()} {started_in} {plain_runs} {async_runs}"


@hwebserver.urlHandler("/shutdown")
def shutdown(request: hwebserver.Request) -> str:
    hwebserver.requestShutdown()
    return "stopping"


if __name__ == "__main__":
    serve()

"""Handlers that go on after their client went away: GET /work/<name>?s=<seconds> (async)
writes `started` to <name> in the working directory, sleeps, then writes how it ended
(`finished` or `cancelled`) and `finally` (its finally block); /plain-work/<name> likewise on
a handler thread."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from harness import serve

import hwebserver


def note(name: str, line: str) -> None:
    with open(Path.cwd() / name, "a") as record:
        record.write(f"{line} {os.getpid()}\n")


@hwebserver.urlHandler("/work", is_prefix=True)
async def work(request: hwebserver.Request) -> str:
    name = request.path().rsplit("/", 1)[-1]
    note(name, "started")
    try:
        await asyncio.sleep(float(request.GET().get("s", "2")))
    except asyncio.CancelledError:
        note(name, "cancelled")
        raise
    finally:
        note(name, "finally")
    note(name, "finished")
    return "done"


@hwebserver.urlHandler("/plain-work", is_prefix=True)
def plain_work(request: hwebserver.Request) -> str:
    """The same on a handler thread, which nothing can cancel: it sleeps, then finishes."""
    name = request.path().rsplit("/", 1)[-1]
    note(name, "started")
    time.sleep(float(request.GET().get("s", "2")))
    note(name, "finished")
    return "done"


if __name__ == "__main__":
    serve()

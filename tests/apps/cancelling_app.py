"""User code that cancels other tasks of the worker, as a library shutting its tasks down may:
GET /arm starts a task that cancels the next async handler's task as soon as it exists, which
on Python 3.11 (no eager start) is before its first step; GET /victim is that handler."""

from __future__ import annotations

import asyncio
import time

from harness import serve

import hwebserver

ARMED_FOR = 10.0  # the canceller gives up after this (nothing spins for long)
VICTIM_RAN: list[str] = []


async def cancel_the_next_handler() -> None:
    """Polls every turn of the loop: a task created in one turn (as a request is parsed) is
    seen at the start of the next one, before its own first step on Python 3.11."""
    this = asyncio.current_task()
    deadline = time.monotonic() + ARMED_FOR
    while time.monotonic() < deadline:
        for task in asyncio.all_tasks():
            if task is not this and task.get_name() == "async handler" and not task.done():
                task.cancel()
                return
        await asyncio.sleep(0)


CANCELLERS: set[asyncio.Task[None]] = set()


@hwebserver.urlHandler("/arm")
async def arm(request: hwebserver.Request) -> str:
    """Its own task has ended by the time the canceller first looks."""
    canceller = asyncio.get_running_loop().create_task(cancel_the_next_handler())
    CANCELLERS.add(canceller)
    canceller.add_done_callback(CANCELLERS.discard)
    return "armed"


@hwebserver.urlHandler("/victim")
async def victim(request: hwebserver.Request) -> str:
    VICTIM_RAN.append("ran")
    await asyncio.sleep(5)
    return "not cancelled"


@hwebserver.urlHandler("/victim-ran")
def victim_ran(request: hwebserver.Request) -> str:
    return str(len(VICTIM_RAN))


if __name__ == "__main__":
    serve()

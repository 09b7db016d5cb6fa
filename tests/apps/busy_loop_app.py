"""A service whose event loop a test can keep busy: /block holds the loop for 50 ms (an async
handler that sleeps without awaiting, as a careless one would), /stall?seconds=S holds it for
S seconds, /ahello answers at once."""

from __future__ import annotations

import time

from harness import serve

import hwebserver


@hwebserver.urlHandler("/block")
async def block(request: hwebserver.Request) -> str:
    time.sleep(0.05)  # on the loop: every turn that serves it lasts 50 ms
    return "blocked"


@hwebserver.urlHandler("/stall")
async def stall(request: hwebserver.Request) -> str:
    time.sleep(float(request.GET()["seconds"]))  # the loop stalls: no tick, no read meanwhile
    return "stalled"


@hwebserver.urlHandler("/ahello")
async def ahello(request: hwebserver.Request) -> str:
    return "hello"


if __name__ == "__main__":
    serve()

"""How plain (synchronous) code is called: always on the handler threads, never on the loop.

Plain URL handlers, `URLHandler.handle`, plain API functions and WSGI apps run on the worker's
HandlerThreads (worker/process/threads.py), at most `max_num_threads` at once, as in Houdini and as
Starlette runs sync endpoints: a handler's speed on earlier calls says nothing about its next
one (an RPC dispatcher, a cook, a render), and one that blocks the loop stalls every connection
of the worker and gets it killed by the watchdog. `async def` is how a handler asks for the loop.
"""

from __future__ import annotations

from ...api.routing import DISPATCH_EXCHANGE

EXCHANGE = DISPATCH_EXCHANGE  # not a plain handler: worker/apps/exchange.py runs it


class WorkerCalls:
    """The worker's side of api.connection.WorkerServices."""

    def __init__(self, debug: bool) -> None:
        self.debug = debug

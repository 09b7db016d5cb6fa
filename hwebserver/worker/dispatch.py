"""How plain (synchronous) code is called: always on the handler threads, never on the loop.

Plain URL handlers, `URLHandler.handle`, plain API functions and WSGI apps run on the worker's
HandlerThreads (worker/threads.py), at most `max_num_threads` at once, as in Houdini and as
Starlette runs sync endpoints: a handler's speed on earlier calls says nothing about its next
one (an RPC dispatcher, a cook, a render), and one that blocks the loop stalls every connection
of the worker and gets it killed by the watchdog. `async def` is how a handler asks for the loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..api.routing import DISPATCH_EXCHANGE

if TYPE_CHECKING:
    from .state import WorkerState

EXCHANGE = DISPATCH_EXCHANGE  # not a plain handler: worker/exchange.py runs it


def _apply(call: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]) -> Any:
    function, args, kwargs = call
    return function(*args, **kwargs)


class WorkerCalls:
    """The worker's side of api.connection.WorkerServices: an async endpoint (/api) awaits
    call_plain() to run a plain function where plain handlers run."""

    def __init__(self, state: WorkerState) -> None:
        self.state = state
        self.debug = state.debug

    def call_plain(
        self, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Awaitable[Any]:
        return self.state.threads.run(_apply, (function, args, kwargs))

"""Routes that run a whole exchange themselves: WSGI and ASGI mounts, AsyncURLHandler.

The protocol calls start() for a route that `runs_exchange`, with the request
already counted in flight. The adapter must end it exactly once: protocol._respond() (a
Response), protocol._finish() (it wrote the response itself), or
protocol._handler_finished_on_closed() (the client went away).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ...api.handlers import ASYNC_HANDLER
from ...api.mounts import ASGI, WSGI
from ...api.request import Request
from ...api.routing import Route
from . import asgi, async_handler, wsgi

if TYPE_CHECKING:
    from ..http.protocol import HttpProtocol

Starter = Callable[["HttpProtocol", Route, Request], None]

STARTERS: dict[str, Starter] = {
    WSGI: wsgi.start,
    ASGI: asgi.start,
    ASYNC_HANDLER: async_handler.start,
}


def start(protocol: HttpProtocol, route: Route, request: Request) -> None:
    STARTERS[route.kind](protocol, route, request)

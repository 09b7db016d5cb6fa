"""The one way a connection becomes a WebSocket, whichever kind answers it.

HttpProtocol calls upgrade() with a complete `Upgrade: websocket` request and nothing else
pending on the connection. A path with a registered WebSocket class (api/websocket.py) goes to
the handshake of hwebserver's own WebSockets (handshake.py), which also refuses a path that
nothing serves (404); a path under an ASGI mount goes to the app (asgi_connection.py). Both
kinds then share the worker's registry of open WebSockets, its ping clock and one close
timeout (keepalive.py).

The websockets library is imported when the first upgrade arrives, or at start-up when
WebSocket classes are already registered (preload, a startup hook of WorkerServer), so a
server without WebSockets never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...api.mounts import ASGI

if TYPE_CHECKING:
    from ...api.request import Request
    from ..common.state import WorkerState
    from ..http.seams import Connection


def preload(state: WorkerState) -> None:
    if state.websocket_router.routes():
        from . import handshake  # noqa: F401 - load now, not on the first connection


def upgrade(http: Connection, request: Request, trailing: bytes) -> None:
    state = http.state
    port = request.conn.port_name
    if state.websocket_router.match(port, request.url_path) is None:
        route = state.router.match(port, request.url_path)
        if route is not None and route.kind == ASGI:
            from .asgi_connection import AsgiWebSocket

            AsgiWebSocket(http, route, request, trailing).start()
            return
    from .handshake import accept

    accept(http, request, trailing)

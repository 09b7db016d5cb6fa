"""The one way a connection becomes a WebSocket, whichever kind answers it.

HttpProtocol calls upgrade() with a complete `Upgrade: websocket` request and nothing else
pending on the connection. The port's gate (worker/http/gate.py, admit_upgrade) applies the
port's rules (ALLOWED_HOSTS, SSL_REDIRECT, the Origin against CORS_ORIGIN_WHITELIST) and finds
what serves the path: a registered WebSocket class (api/websocket.py) goes to the handshake of
hwebserver's own WebSockets (handshake.py), a path under an ASGI mount to the app
(asgi_connection.py); a refusal, or a path that nothing serves (404), is answered here. For
both kinds the HttpProtocol stays the transport's protocol and forwards its events (data,
EOF, write pauses, loss, drain) to the session through the Upgraded seam (http/seams.py). Both
kinds then share the worker's registry of open WebSockets, its ping clock and one close
timeout (keepalive.py).

The websockets library is imported when the first upgrade is admitted, or at start-up when
WebSocket classes are already registered (preload, a startup hook of WorkerServer), so a
server without WebSockets never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...api.mounts import ASGI
from ...api.response import Response
from ..http.gate import admit_upgrade
from .refusal import refuse

if TYPE_CHECKING:
    from ...api.request import Request
    from ..common.state import WorkerState
    from ..http.seams import Connection


def preload(state: WorkerState) -> None:
    if state.websocket_router.routes():
        from . import handshake  # noqa: F401 - load now, not on the first connection


def upgrade(http: Connection, request: Request, trailing: bytes) -> None:
    route = admit_upgrade(http.policy, http.state, request.conn.port_name, request)
    if isinstance(route, Response):
        refuse(http, request, route)
        return
    if route.kind == ASGI:
        from .asgi_connection import AsgiWebSocket

        AsgiWebSocket(http, route, request, trailing).start()
        return
    from .handshake import accept

    accept(http, route, request, trailing)

"""The one way a connection becomes a WebSocket, whichever kind answers it.

HttpProtocol calls upgrade() with a complete `Upgrade: websocket` request and nothing else
pending on the connection. The port's gate (worker/http/gate.py, admit_upgrade) applies the
port's rules (ALLOWED_HOSTS, SSL_REDIRECT, the Origin against CORS_ORIGIN_WHITELIST) and finds
what serves the path: a registered WebSocket class (api/websocket.py) goes to the handshake of
the class's face of a session (houdini_connection.py), a path under an ASGI mount to the app's
(asgi_connection.py), both after one handshake (handshake.py); a refusal, or a path that
nothing serves (404), is answered here. For both kinds the HttpProtocol stays the transport's
protocol and forwards its events (data, EOF, write pauses, loss, drain) to the one session
core (session.py) through the Upgraded seam (http/seams.py), which also holds the worker's
registry of open WebSockets, its ping clock and one close timeout (keepalive.py).

The websockets library is imported when the first upgrade is admitted, or at start-up when
WebSocket classes are already registered (preload, a startup hook of WorkerServer), so a
server without WebSockets never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...api.helpers import errorResponse
from ...api.mounts import ASGI
from ...api.response import Response
from ...api.websocket import WebSocketEndpoint
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
    from .handshake import negotiate

    negotiated = negotiate(http, request)
    if negotiated is None:
        return
    protocol, handshake = negotiated
    if route.kind == ASGI:
        from .asgi_connection import AsgiWebSocket

        AsgiWebSocket(http, route, request, protocol, handshake, trailing).start()
        return
    from .houdini_connection import HoudiniWebSocket

    endpoint = route.endpoint
    if not isinstance(endpoint, WebSocketEndpoint):  # the gate admits no other kind here
        refuse(http, request, errorResponse(request, f"No WebSocket at {request.url_path}", 404))
        return
    HoudiniWebSocket(http, request, endpoint, protocol, handshake, trailing).start()

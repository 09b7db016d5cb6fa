"""The opening handshake: is there a WebSocket for this upgrade request, and may it connect?

Answered in this order, each refusal an HTTP response followed by closing the connection:
no WebSocket registered for the path (404), the server shutting down (503; a worker
retiring in a reload accepts it, and its drain then closes it with 1001 as it closes every
WebSocket it holds, so nothing is refused during a reload), the port's policy
(e.g. a Host not in ALLOWED_HOSTS: 400), an Origin that the port's CORS_ORIGIN_WHITELIST
does not list (403: cross-site WebSocket hijacking; a request without Origin is not from a
browser, so not cross-site), then the websockets library's validation of the request
(method, version, Connection/Upgrade, key, version 13: 4xx). What remains is the handler's
own decision in connect() (websocket.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import enable_server_permessage_deflate
from websockets.frames import CLOSE, Frame
from websockets.http11 import Request as HandshakeRequest
from websockets.protocol import OPEN
from websockets.server import ServerProtocol

from ...api.helpers import errorResponse
from ...api.request import Request
from ...api.websocket import WebSocketEndpoint
from ..policies.cors import normalise_origin
from .houdini_connection import WebSocketConnection, write_refusal

if TYPE_CHECKING:
    from ..http.seams import Connection

# permessage-deflate with the library's memory-conscious defaults (12-bit windows).
EXTENSIONS = enable_server_permessage_deflate(None)
# Headers of the library's refusals that the client needs to see.
_KEPT_REFUSAL_HEADERS = ("Allow", "Upgrade")


class ServerWebSocketProtocol(ServerProtocol):
    """The library's server protocol, but a Close frame in the middle of a fragmented message
    is a normal close, as RFC 6455 section 5.4 allows control frames between fragments (the
    library fails such a connection with 1002; Autobahn case 7.1.5 expects 1000)."""

    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is CLOSE:
            self.current_size = None  # the unfinished message is dropped with the connection
        super().recv_frame(frame)


def cross_site(request: Request) -> bool:
    """An Origin header that the port's CORS allow-list does not list (compared as cors.py
    compares them). No allow-list, "*", or no Origin at all (not a browser): not refused."""
    whitelist = request.conn.port_settings.get("CORS_ORIGIN_WHITELIST")
    if not whitelist or "*" in whitelist:
        return False
    origin = request.headers().get("Origin")
    if origin is None:
        return False
    normalised = normalise_origin(origin)
    return normalised is None or normalised not in {normalise_origin(o) for o in whitelist}


def handshake_request(request: Request) -> HandshakeRequest:
    headers = Headers()
    for name, value in request.raw_headers:
        headers[name.decode("latin-1")] = value.decode("latin-1")
    return HandshakeRequest(
        path=request.target.decode("latin-1"),
        headers=headers,
        method=request.http_method,
        protocol=request.protocol(),
    )


def accept(http: Connection, request: Request, trailing: bytes) -> None:
    """A complete `Upgrade: websocket` request for hwebserver's WebSocket classes (upgrade.py)."""
    state = http.state
    route = state.websocket_router.match(request.conn.port_name, request.url_path)
    if route is None or not isinstance(route.endpoint, WebSocketEndpoint):
        refuse(http, request, errorResponse(request, f"No WebSocket at {request.url_path}", 404))
        return
    if state.shutting_down:
        refuse(http, request, errorResponse(request, "The server is shutting down", 503))
        return
    if http.policy is not None:
        early = http.policy.before(request)
        if early is not None:
            refuse(http, request, early)
            return
    if cross_site(request):
        origin = request.headers().get("Origin")
        state.log.lifecycle("refused WebSocket %s from origin %r", request.url_path, origin)
        refuse(http, request, errorResponse(request, "Origin not allowed", 403))
        return
    # state=OPEN: the library validates and negotiates (accept()) but the HTTP request was
    # parsed already, so its parser starts with frames.
    protocol = ServerWebSocketProtocol(
        extensions=EXTENSIONS,
        max_size=state.config.server.WEBSOCKET_MAX_MESSAGE_SIZE,
        state=OPEN,
    )
    handshake = protocol.accept(handshake_request(request))
    if handshake.status_code != 101:
        message = handshake.body.decode("utf-8", "replace").strip()
        response = errorResponse(request, message, handshake.status_code)
        for name in _KEPT_REFUSAL_HEADERS:
            if name in handshake.headers:
                response.setHeader(name, handshake.headers[name])
        state.log.lifecycle("refused WebSocket %s: %s", request.url_path, message)
        refuse(http, request, response)
        return
    connection = WebSocketConnection(http, request, route.endpoint, protocol, handshake, trailing)
    http.upgraded = connection
    connection.start()


def refuse(http: Connection, request: Request, response: Any) -> None:
    state = http.state
    if state.access_log:
        client = request.conn.client
        state.log.access(
            f"{client[0]}:{client[1]}",
            request.http_method,
            request.url_path,
            response.status_code,
            0,
            0.0,
        )
    request.cleanup()
    write_refusal(http, response)

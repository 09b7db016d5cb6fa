"""The opening handshake of both kinds of WebSocket: may this admitted upgrade connect?

The port's gate (worker/http/gate.py) has applied the port's rules already (a Host not in
ALLOWED_HOSTS: 400; SSL_REDIRECT: 301; an Origin that CORS_ORIGIN_WHITELIST does not list:
403) and found the class (else 404). Answered here, in this order, each refusal an HTTP
response followed by closing the connection: the server shutting down (503; a worker
retiring in a reload accepts it, and its drain then closes it with 1001 as it closes every
WebSocket it holds, so nothing is refused during a reload), then the websockets library's
validation of the request (method, version, Connection/Upgrade, key, version 13: 4xx). What
remains is the code's own decision: connect() of a WebSocket class (websocket.py), or an ASGI
app's websocket.accept; the session (session.py) writes the 101 then.

handshake_request() is the one translation of a request into the library's handshake
request, handshake_bytes() the one 101 response, for both kinds of WebSocket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import enable_server_permessage_deflate
from websockets.frames import CLOSE, Frame
from websockets.http11 import Request as HandshakeRequest
from websockets.http11 import Response as HandshakeResponse
from websockets.protocol import OPEN
from websockets.server import ServerProtocol

from ...api.helpers import errorResponse
from ...api.request import Request
from .refusal import refuse

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


def negotiate(
    http: Connection, request: Request
) -> tuple[ServerProtocol, HandshakeResponse] | None:
    """The protocol of an admitted upgrade and its 101 response (not written yet: the code
    decides); None when the request was refused here (answered and closing)."""
    state = http.state
    if state.shutting_down:
        refuse(http, request, errorResponse(request, "The server is shutting down", 503))
        return None
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
        refuse(http, request, response)
        return None
    return protocol, handshake


def handshake_bytes(response: HandshakeResponse, date_server: bytes) -> bytes:
    """The 101 response: the handshake headers of the websockets protocol, our Date/Server."""
    lines = [b"HTTP/1.1 101 Switching Protocols\r\n"]
    for name, value in response.headers.raw_items():
        if name.lower() != "date":
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    lines.append(date_server)
    lines.append(b"\r\n")
    return b"".join(lines)

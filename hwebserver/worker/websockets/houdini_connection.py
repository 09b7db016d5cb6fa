"""One WebSocket connection: the websockets sans-I/O protocol between a transport and a
WebSocket instance (api/websocket.py).

RFC 6455 itself (framing, masking, fragmentation rules, ping/pong, the close handshake,
close codes, size limits, permessage-deflate) is the websockets library's ServerProtocol;
this module moves bytes between it and the transport and runs the handler:
- connect(); then receive() once per message, strictly in order; then, once the TCP
  connection is closed, disconnect(code): each call in a task of its own
  (http/user_tasks.py), a receive() started eagerly on Python 3.12+ (one that does not
  really wait has finished when data_received returns);
- flow control both ways: reading pauses while messages wait for the handler beyond a small
  backlog, and while the client does not read what we write (then send() waits too), so a
  connection's memory stays bounded whatever the client does;
- a handler that raises closes its connection with 1011; shutdown closes with 1001.

The HTTP protocol stays the transport's protocol and forwards data_received,
pause/resume_writing, connection_lost and shutdown() here. The connection stays in
state.connections until disconnect() has returned, so a drain waits for it.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections import deque
from types import CoroutineType
from typing import TYPE_CHECKING, cast

from websockets.exceptions import ProtocolError
from websockets.frames import CloseCode, Frame
from websockets.headers import parse_subprotocol
from websockets.http11 import Response as HandshakeResponse
from websockets.protocol import OPEN
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from ...api.errors import OperationFailed
from ...api.helpers import errorResponse
from ...api.internal.tracebacks import contained, without_server_frames
from ...api.request import Request
from ...api.response import Response
from ...api.websocket import WebSocket, WebSocketClosed, WebSocketEndpoint, settle
from ..common.keepalive import CLOSE_TIMEOUT, GIVE_UP, PING, keepalive_due
from ..http import user_tasks
from ..http.error_responses import error_response
from .data_frames import send_data, write_data_frame
from .frame_reader import FrameReader
from .messages import MessageAssembler
from .refusal import write_refusal

if TYPE_CHECKING:
    from ..http.seams import Connection

# Seconds the peer has to finish a closing handshake before we cut the connection.
# Seconds a refused client has to read the answer and close.
REFUSAL_LINGER = 2.0
# Messages waiting for the handler: reading pauses at the high mark, resumes under the low.
INBOX_HIGH_MESSAGES = 16
INBOX_LOW_MESSAGES = 4
INBOX_HIGH_BYTES = 1 << 20
INBOX_LOW_BYTES = 1 << 18


def handshake_bytes(response: HandshakeResponse, date_server: bytes) -> bytes:
    """The 101 response: the handshake headers of the websockets protocol, our Date/Server."""
    lines = [b"HTTP/1.1 101 Switching Protocols\r\n"]
    for name, value in response.headers.raw_items():
        if name.lower() != "date":
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    lines.append(date_server)
    lines.append(b"\r\n")
    return b"".join(lines)


class WebSocketConnection:
    """The upgraded connection; also the channel its WebSocket instance talks through."""

    # HttpProtocol.connection_lost leaves the connection in state.connections: _finish()
    # removes it once disconnect() has returned.
    holds_registration = True
    __slots__ = (
        "accepted",
        "assembler",
        "close_timer",
        "connected",
        "drain_waiters",
        "ending",
        "endpoint",
        "handler_failed",
        "handshake",
        "held",
        "http",
        "inbox",
        "inbox_bytes",
        "inbox_full",
        "last_seen",
        "loop",
        "lost",
        "ping_sent_at",
        "pumping",
        "reader",
        "receiving",
        "refused",
        "registry",
        "request",
        "seen",
        "shutting_down",
        "socket",
        "state",
        "transport",
        "write_paused",
        "ws",
    )

    def __init__(
        self,
        http: Connection,
        request: Request,
        endpoint: WebSocketEndpoint,
        protocol: ServerProtocol,
        handshake: HandshakeResponse,
        trailing: bytes,
    ) -> None:
        self.http = http
        self.state = http.state
        self.loop = http.loop
        self.transport = http.transport
        self.request = request
        self.endpoint = endpoint
        self.ws = protocol
        self.reader = FrameReader(protocol)
        self.handshake = handshake
        self.registry = http.state.open_websockets
        self.socket: WebSocket | None = None
        self.accepted = False
        self.refused = False
        self.lost = False
        self.handler_failed = False
        self.shutting_down = False
        # Bytes that arrived before accept(): fed to the protocol once the 101 is written.
        self.held: list[bytes] = [trailing] if trailing else []
        self.assembler = MessageAssembler()
        self.inbox: deque[str | bytes] = deque()
        self.inbox_bytes = 0
        self.inbox_full = False
        self.connected = False  # connect() has returned
        self.receiving = False  # a receive() call runs
        self.pumping = False
        self.ending = False
        self.write_paused = http.write_paused
        self.drain_waiters: list[asyncio.Future[None]] = []
        self.close_timer: asyncio.TimerHandle | None = None
        # Keep-alive bookkeeping (see keepalive.py).
        self.seen = True
        self.last_seen = 0.0
        self.ping_sent_at: float | None = None

    def start(self) -> None:
        self.http.pause_reading()  # nothing is read until connect() decided
        # Not eagerly: this runs inside the parsing of the upgrade request.
        user_tasks.start(
            self.loop,
            self.http.base_context.copy(),
            self._connect(),
            WebSocketConnection._connected,
            self,
            "WebSocket.connect",
            eager=False,
        )

    # -- the handler's side --------------------------------------------------------------
    async def _connect(self) -> None:
        """The handler's code: its instance is made, then connect() decides."""
        socket = self.socket = self.endpoint()
        socket.attach(self, self.request)
        await self.endpoint.connect(socket, self.request)

    def _connected(self, error: BaseException | None, _result: object) -> None:
        if error is not None and not isinstance(error, WebSocketClosed):
            # (WebSocketClosed: the client left, or the server is shutting down.)
            self._log_handler_error("connect", error)
            if self.accepted:
                self._close_for_error()
            elif not self.refused:
                self._refuse(error_response(self.request, error, self.state.debug))
        if not self.accepted and not self.refused:
            self._refuse(errorResponse(self.request, "WebSocket connection refused", 403))
        self.connected = True
        self._pump()

    def _pump(self) -> None:
        """Deliver waiting messages to receive(), one call at a time, in order.

        Each call runs in a task of its own, started eagerly on Python 3.12+: one that does not
        really wait (an echo, a reply to a client that reads) has finished when it returns;
        one that waits holds the next message until it ends. Once the connection is gone and
        no call runs, disconnect() follows.
        """
        if self.pumping or not self.connected:
            return
        self.pumping = True
        try:
            while not self.receiving and self.inbox and not self.handler_failed:
                self._start_receive(self._pop())
            if not self.receiving and self.lost and not self.ending:
                self.ending = True
                self._disconnect()
        finally:
            self.pumping = False

    def _start_receive(self, message: str | bytes) -> None:
        try:
            result = self.endpoint.receive(self.socket, message)  # type: ignore[arg-type]
            if result.__class__ is not CoroutineType:  # a plain method
                if not inspect.isawaitable(result):
                    return
                result = settle(result)
        except BaseException as exc:  # a plain method's SystemExit too (see contained)
            self._receive_failed(contained(exc))
            return
        self.receiving = True  # before the start: on 3.12+ the call may end inside it
        user_tasks.start(
            self.loop,
            self.http.base_context.copy(),
            result,
            WebSocketConnection._received,
            self,
            "WebSocket.receive",
        )

    def _received(self, error: BaseException | None, _result: object) -> None:
        self.receiving = False
        if error is not None:
            self._receive_failed(error)
        self._pump()

    def _receive_failed(self, exc: BaseException) -> None:
        if isinstance(exc, WebSocketClosed) and (self.lost or self.ws.state is not OPEN):
            # It sent on this connection, which is closing: not the handler's fault. The
            # messages still waiting arrived before the close and are delivered.
            return
        self._log_handler_error("receive", exc)
        self._close_for_error()

    def _pop(self) -> str | bytes:
        inbox = self.inbox
        message = inbox.popleft()
        self.inbox_bytes -= len(message)
        if (
            self.inbox_full
            and len(inbox) <= INBOX_LOW_MESSAGES
            and self.inbox_bytes <= INBOX_LOW_BYTES
        ):
            self.inbox_full = False
            self._update_reading()
        return message

    def _disconnect(self) -> None:
        """The TCP connection is closed and no receive() runs: disconnect(), then unregister."""
        if not self.accepted or self.socket is None:
            self._finish()
            return
        user_tasks.start(
            self.loop,
            self.http.base_context.copy(),
            self.endpoint.disconnect(self.socket, self._close_code()),
            WebSocketConnection._disconnected,
            self,
            "WebSocket.disconnect",
            eager=False,  # inside connection_lost: the connection's state is still changing
        )

    def _disconnected(self, error: BaseException | None, _result: object) -> None:
        if error is not None:
            self._log_handler_error("disconnect", error)
        self._finish()

    def _log_handler_error(self, what: str, exc: BaseException) -> None:
        without_server_frames(exc)
        self.state.log.error(
            "WebSocket %s.%s for %s raised %s",
            self.endpoint.cls.__qualname__,
            what,
            self.request.url_path,
            type(exc).__name__,
            exc_info=exc,
        )

    def _finish(self) -> None:
        self.registry.discard(self)
        self.state.connections.discard(self.http)
        self.request.cleanup()
        self.inbox.clear()

    # -- the channel (what WebSocket.accept/send/close call) --------------------------------
    async def accept(self, subprotocol: str | None) -> None:
        if self.accepted:
            return
        if self.refused or self.lost:
            raise WebSocketClosed("the client closed the connection before it was accepted")
        if self.state.shutting_down:
            self._refuse(errorResponse(self.request, "The server is shutting down", 503))
            raise WebSocketClosed("the server is shutting down")
        response = self.handshake
        if subprotocol is not None:
            offered = [
                name
                for value in self.request.headers().get("Sec-WebSocket-Protocol", "").split(",")
                if value.strip()
                for name in parse_subprotocol(value.strip())
            ]
            if subprotocol not in offered:
                raise ValueError(f"the client did not offer the subprotocol {subprotocol!r}")
            response.headers["Sec-WebSocket-Protocol"] = subprotocol
            self.ws.subprotocol = cast(Subprotocol, subprotocol)
        self.accepted = True
        self.transport.write(handshake_bytes(response, self.state.date_server))
        self._access_log(101)
        self.last_seen = self.loop.time()
        self.registry.add(self)
        self._update_reading()
        held, self.held = self.held, []
        for data in held:
            self.data_received(data)

    def send_message(self, payload: bytes, is_text: bool) -> bool:
        if not self.accepted:
            raise OperationFailed("accept() the WebSocket before sending on it")
        ws = self.ws
        if self.lost or ws.state is not OPEN:
            raise WebSocketClosed("the WebSocket connection is closed")
        if ws.extensions or ws.writes:  # compressed, or a pong queued to go first
            send_data(ws, self.transport, payload, is_text, self._flush)
        else:
            write_data_frame(self.transport, payload, is_text)
        return self.write_paused or self.lost

    async def close(self, code: int, reason: str) -> None:
        if not self.accepted:
            if not self.refused:
                self._refuse(errorResponse(self.request, "WebSocket connection refused", 403))
            return
        ws = self.ws
        if self.lost or ws.state is not OPEN:
            return
        try:
            ws.send_close(code, reason)
        except ProtocolError as exc:
            raise ValueError(
                f"cannot close with code {code} and reason {reason!r}: {exc}"
            ) from None
        self._flush()

    async def drain(self) -> None:
        while self.write_paused and not self.lost:
            waiter = self.loop.create_future()
            self.drain_waiters.append(waiter)
            await waiter
        if self.lost:
            raise WebSocketClosed("the client disconnected")

    # -- the transport's side (forwarded by HttpProtocol) -----------------------------------
    def data_received(self, data: bytes) -> None:
        if not self.accepted:
            if not self.refused:
                self.held.append(data)  # read before reading paused; fed after accept()
            return
        self.seen = True
        # Common frames arrive as messages already; the rest as the protocol's frame events.
        reader = self.reader
        received = reader.receive(data)
        failed = False
        if received:
            assembler = self.assembler
            for item in received:
                if isinstance(item, Frame):  # narrows the type for free, unlike cast()
                    try:
                        message = assembler.feed(item)
                    except UnicodeDecodeError as exc:
                        self.ws.fail(
                            CloseCode.INVALID_DATA, f"invalid UTF-8 at position {exc.start}"
                        )
                        failed = True
                        break
                    if message is None:
                        continue
                else:
                    message = item
                self._enqueue(message)
        # What the protocol has to send (a pong, a close) comes from the bytes it was given or
        # from fail(); a handler's send() or close() flushed its own writes already.
        if reader.forwarded or failed:
            self._flush()

    def eof_received(self) -> None:
        """The client ended its side: the HttpProtocol closes ours, connection_lost follows."""

    def pause_writing(self) -> None:
        self.write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        waiters, self.drain_waiters = self.drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._update_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost:
            return
        self.lost = True
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        ws = self.ws
        self.reader.flush_to_protocol()  # the protocol sees every byte that arrived
        ws.receive_eof()  # an open connection becomes closed abnormally (1006)
        ws.data_to_send()
        self.registry.discard(self)
        for waiter in self.drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.drain_waiters = []
        self._pump()

    def shutdown(self) -> None:
        """Server shutdown (called repeatedly while draining): close with 1001, once.

        Before connect() has accepted, nothing is sent: a worker retiring in a reload lets
        connect() accept, and the next call closes the WebSocket then."""
        if self.shutting_down or not self.accepted:
            return
        self.shutting_down = True
        if not self.lost and self.ws.state is OPEN:
            self.ws.send_close(CloseCode.GOING_AWAY, "server shutting down")
            self._flush()

    def check_keepalive(self, now: float, interval: float, timeout: float) -> None:
        ws = self.ws
        if self.lost or ws.state is not OPEN:
            return
        due = keepalive_due(self, now, interval, timeout, self.http.reading_paused)
        if due == PING:
            ws.send_ping(os.urandom(4))
            self._flush()
        elif due == GIVE_UP:
            self.state.log.lifecycle(
                "WebSocket %s: no pong in %.1fs, closing", self.request.url_path, timeout
            )
            ws.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            self._flush()
            if self.close_timer is None:  # a peer that stopped reading never takes the close
                self.close_timer = self.loop.call_later(CLOSE_TIMEOUT, self._cut)

    # -- internals -----------------------------------------------------------------------------
    def _enqueue(self, message: str | bytes) -> None:
        if self.handler_failed:
            return
        inbox = self.inbox
        if not inbox and not self.receiving and self.connected and not self.pumping:
            self._start_receive(message)  # the common case: nothing to wait behind
            return
        inbox.append(message)
        self.inbox_bytes += len(message)
        if not self.inbox_full and (
            len(inbox) >= INBOX_HIGH_MESSAGES or self.inbox_bytes >= INBOX_HIGH_BYTES
        ):
            self.inbox_full = True
            self._update_reading()
        self._pump()

    def _update_reading(self) -> None:
        """Read while accepted (or refused: to see the client go) and neither side is behind."""
        http = self.http
        if self.refused or (self.accepted and not self.write_paused and not self.inbox_full):
            http.resume_reading()
        else:
            http.pause_reading()

    def _flush(self) -> None:
        """Write what the protocol produced; an empty chunk means: end our side of the TCP."""
        ws = self.ws
        writes = ws.data_to_send()
        if writes and not self.lost:
            transport = self.transport
            for data in writes:
                if data:
                    transport.write(data)
                elif transport.can_write_eof():
                    transport.write_eof()
                else:
                    transport.close()
        if self.close_timer is None and ws.state is not OPEN and ws.close_expected():
            self.close_timer = self.loop.call_later(CLOSE_TIMEOUT, self._cut)

    def _cut(self) -> None:
        self.close_timer = None
        if not self.lost:
            self.transport.abort()

    def _close_for_error(self) -> None:
        self.handler_failed = True
        self.inbox.clear()
        self.inbox_bytes = 0
        if self.inbox_full:
            self.inbox_full = False
            self._update_reading()
        if not self.lost and self.ws.state is OPEN:
            self.ws.send_close(CloseCode.INTERNAL_ERROR, "internal error")
            self._flush()

    def _refuse(self, response: Response) -> None:
        """Answer the upgrade with an HTTP error instead of 101, then close."""
        self.refused = True
        self.held = []
        self._access_log(response.status_code)
        if not self.lost:
            write_refusal(self.http, response)
            # The HTTP clock leaves upgraded connections alone: cut a client that lingers.
            if self.close_timer is None:
                self.close_timer = self.loop.call_later(REFUSAL_LINGER, self._cut)

    def _close_code(self) -> int:
        ws = self.ws
        if ws.close_rcvd is not None:
            return int(ws.close_rcvd.code)
        if ws.close_sent is not None:
            return int(ws.close_sent.code)
        return int(CloseCode.ABNORMAL_CLOSURE)

    def _access_log(self, status: int) -> None:
        state = self.state
        if state.access_log:
            client = self.request.conn.client
            state.log.access(
                f"{client[0]}:{client[1]}",
                "GET",
                self.request.url_path,
                status,
                0,
                0.0,
                query=self.request.query,
            )

"""ASGI WebSocket connections of mounted ASGI apps, on the `websockets` sans-I/O protocol.

This module is separate from hwebserver's own WebSocket classes; upgrade.py sends here an
upgrade whose path falls under an ASGI mount and has no registered WebSocket class.

After the upgrade the HttpProtocol stays the transport's protocol and forwards the
transport's events to this session (its `upgraded`), as for hwebserver's own WebSockets; it
stays registered until the connection is gone, so a worker drain closes it with 1001 like any
other connection.
"""

from __future__ import annotations

import asyncio
import codecs
import os
from collections import deque
from typing import TYPE_CHECKING, Any, cast

from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.protocol import CLOSED, OPEN
from websockets.server import ServerProtocol

from ...api.internal.headers import check_header
from ...api.internal.tracebacks import without_server_frames
from ..apps.asgi import base_scope, late_lifespan, ready_lifespan, with_lifespan_state
from ..common.keepalive import CLOSE_TIMEOUT, GIVE_UP, PING, keepalive_due
from ..http import user_tasks
from ..http.response_head import status_line
from ..http.streaming_body import ClientDisconnected
from .data_frames import send_data
from .frame_reader import FrameReader, Received
from .handshake import ServerWebSocketProtocol, handshake_request
from .houdini_connection import (
    INBOX_HIGH_BYTES,
    INBOX_HIGH_MESSAGES,
    INBOX_LOW_BYTES,
    INBOX_LOW_MESSAGES,
)

if TYPE_CHECKING:
    from ...api.request import Request
    from ..http.gate import AdmittedRoute
    from ..http.seams import Connection

EARLY_BYTES = 64 * 1024  # what a client may send before the app accepts


class AsgiWebSocket:
    """One WebSocket connection served by an ASGI app."""

    # The HttpProtocol leaves state.connections when the transport goes (connection_lost).
    holds_registration = False

    def __init__(
        self, http: Connection, route: AdmittedRoute, request: Request, trailing: bytes
    ) -> None:
        self.http = http
        self.loop = http.loop
        self.transport = http.transport
        self.app = route.endpoint
        self.route = route
        self.request = request
        self.handshake = handshake_request(request)
        self.pending = bytearray(trailing)
        self.chosen: str | None = None
        max_size = http.state.config.server.WEBSOCKET_MAX_MESSAGE_SIZE
        # The server protocol of hwebserver's own WebSockets: a Close frame between the
        # fragments of a message is a normal close (Autobahn 7.1.5), not a protocol error.
        self.ws = ServerWebSocketProtocol(
            extensions=[ServerPerMessageDeflateFactory()],
            # A plain function: websockets binds it to the protocol as a method.
            select_subprotocol=cast(Any, lambda _protocol, offered: self._select(offered)),
            max_size=max_size,
        )
        self.reader = FrameReader(self.ws)  # common frames decoded beside the protocol
        self.inbox: deque[dict[str, Any]] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.write_paused = False
        self.drain_waiter: asyncio.Future[None] | None = None
        self.connected_sent = False
        self.accepted = False
        self.close_sent = False
        self.gone = False
        self.disconnect_queued = False
        self.fragments: list[bytes] = []
        self.fragments_text = False
        self.task: asyncio.Task[None] | None = None
        # Messages the app has not received yet: past the high marks reading stops, so a
        # client cannot make an app that is slow to receive() buffer without bound.
        self.inbox_bytes = 0
        self.reading_paused = False
        self.disconnected: dict[str, Any] | None = None  # the disconnect the app received
        # Keep-alive (WEBSOCKET_PING_INTERVAL), as for hwebserver's own WebSockets.
        self.seen = False
        self.last_seen = 0.0
        self.ping_sent_at: float | None = None

    # -- start ------------------------------------------------------------------------------
    def start(self) -> None:
        http = self.http
        probe = ServerProtocol(extensions=[ServerPerMessageDeflateFactory()])
        response = probe.accept(self.handshake)
        if response.status_code != 101:  # a broken handshake never reaches the app
            http.transport.write(response.serialize())
            http.close()
            return
        http.upgraded = self
        http.active = self.request  # busy: no idle timeout, nothing else is dispatched
        scope = base_scope(self.request, self.route, "websocket", self._scheme())
        scope["subprotocols"] = [
            value.strip()
            for name, header in self.request.raw_headers
            if name.lower() == b"sec-websocket-protocol"
            for value in header.decode("latin-1").split(",")
            if value.strip()
        ]
        # Not eagerly: this runs inside the parsing of the upgrade request.
        self.task = user_tasks.start(
            self.loop,
            http.base_context.copy(),
            self._run(scope),
            AsgiWebSocket._app_done,
            self,
            "ASGI WebSocket",
            eager=False,
        )

    def _scheme(self) -> str:
        return "wss" if self.request.isSecure() else "ws"

    def _select(self, offered: Any) -> str | None:
        return self.chosen if self.chosen in offered else None

    async def _run(self, scope: dict[str, Any]) -> None:
        """The app, once its lifespan has started (see apps/asgi.py)."""
        state = self.http.state
        lifespan = ready_lifespan(state, self.app) or await late_lifespan(state, self.app)
        with_lifespan_state(scope, lifespan)
        await self.app(scope, self.receive, self.send)

    def _app_done(self, error: BaseException | None, _result: object) -> None:
        """The app returned or raised (CancelledError, SystemExit too: its failure)."""
        if error is not None and not isinstance(error, ClientDisconnected):
            without_server_frames(error)
            self.http.state.log.error(
                "ASGI WebSocket app for %s failed: %s",
                self.request.url_path,
                error,
                exc_info=error,
            )
        if self.gone:
            return
        if not self.accepted:
            self._http_answer(500 if error is not None else 403)
        elif not self.close_sent:
            self._close(1011 if error is not None else 1000, "")

    # -- the app's receive() and send() ---------------------------------------------------------
    async def receive(self) -> dict[str, Any]:
        if not self.connected_sent:
            self.connected_sent = True
            return {"type": "websocket.connect"}
        while not self.inbox:
            if self.disconnected is not None:  # asked again after the end: the end again
                return dict(self.disconnected)
            if self.gone and not self.disconnect_queued:
                self._queue_disconnect()
                break
            waiter = self.waiter = self.loop.create_future()
            await waiter
        message = self.inbox.popleft()
        if message["type"] == "websocket.disconnect":
            self.disconnected = message
        self.inbox_bytes -= _size(message)
        if (
            self.reading_paused
            and len(self.inbox) <= INBOX_LOW_MESSAGES
            and self.inbox_bytes <= INBOX_LOW_BYTES
        ):
            self.reading_paused = False
            if not self.gone:
                self.transport.resume_reading()
        return message

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if self.gone or self.close_sent:
            raise ClientDisconnected("the WebSocket is closed")
        if kind == "websocket.send":
            text = message.get("text")
            payload = (
                text.encode("utf-8") if text is not None else bytes(message.get("bytes") or b"")
            )
            send_data(self.ws, self.transport, payload, text is not None, self._flush)
            if self.write_paused:
                await self._drain()
        elif kind == "websocket.accept":
            self._accept(message)
        elif kind == "websocket.close":
            if self.accepted:
                self._close(int(message.get("code", 1000)), message.get("reason") or "")
            else:
                self._http_answer(403)
        else:
            raise ValueError(f"unknown ASGI message type {kind!r} for a WebSocket")

    def _accept(self, message: dict[str, Any]) -> None:
        if self.accepted:
            raise RuntimeError("websocket.accept sent twice")
        # Checked before anything is sent: a refused header leaves the app's failure a 500.
        headers = [
            (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
            for name, value in message.get("headers", ())
        ]
        for name, value in headers:
            check_header(name, value)  # websockets writes its headers as they are
        self.chosen = message.get("subprotocol")
        response = self.ws.accept(self.handshake)
        for name, value in headers:
            response.headers[name] = value
        self.ws.send_response(response)
        # The handshake request was parsed by httptools, never fed to `ws`, whose parser still
        # waits for it. Restart the parser now that the state is OPEN: it reads frames.
        self.ws.parser = self.ws.parse()
        next(self.ws.parser)
        self.accepted = True
        self._flush()
        self.last_seen = self.loop.time()
        self.http.state.open_websockets.add(self)
        if self.pending:
            data, self.pending = bytes(self.pending), bytearray()
            self.data_received(data)
        if self.reading_paused and not self.inbox and not self.gone:
            self.reading_paused = False  # paused before the accept: read again
            self.transport.resume_reading()

    def _http_answer(self, status: int) -> None:
        """Refuse the handshake with a plain HTTP answer (the app closed before accepting)."""
        if self.gone or self.accepted:
            return
        self.close_sent = True
        head = b"".join(
            (
                status_line(status),
                b"Content-Length: 0\r\nConnection: close\r\n",
                self.http.state.date_server,
                b"\r\n",
            )
        )
        self.transport.write(head)
        self.transport.close()

    def _close(self, code: int, reason: str) -> None:
        if self.close_sent or self.ws.state is not OPEN:
            return
        self.close_sent = True
        self.ws.send_close(code, reason)
        self._flush()
        self.loop.call_later(CLOSE_TIMEOUT, self._abort_if_open)

    def _abort_if_open(self) -> None:
        if not self.gone:
            self.transport.abort()

    # -- the wire ---------------------------------------------------------------------------
    def _flush(self) -> None:
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)
            else:  # the sans-I/O EOF marker: a server closes TCP after the close handshake
                self.transport.close()

    def data_received(self, data: bytes) -> None:
        """Forwarded by the HttpProtocol, the transport's protocol to the end."""
        if not self.accepted:
            self.pending += data  # the client spoke before the handshake answer: keep it
            if len(self.pending) > EARLY_BYTES and not self.reading_paused:
                self.reading_paused = True  # until the app accepts: it has not said yes yet
                self.transport.pause_reading()
            return
        self.seen = True
        self._process(self.reader.receive(data))

    def eof_received(self) -> None:
        """The client ended its side (the HttpProtocol closes ours next)."""
        if self.accepted:
            self.reader.flush_to_protocol()  # the protocol sees every byte that arrived
            self.ws.receive_eof()
            self._process(cast("list[Received]", self.ws.events_received()))

    def _process(self, received: list[Received]) -> None:
        for frame in received:
            kind = frame.__class__
            if kind is str:  # a whole text message the fast path decoded
                self._push({"type": "websocket.receive", "text": frame})
                continue
            if kind is bytes:
                self._push({"type": "websocket.receive", "bytes": frame})
                continue
            if not isinstance(frame, Frame):
                continue
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                self.fragments = [bytes(frame.data)]
                self.fragments_text = opcode is Opcode.TEXT
            elif opcode is Opcode.CONT:
                self.fragments.append(bytes(frame.data))
            else:
                continue  # ping/pong answered by the protocol; close handled below
            if frame.fin:
                self._deliver(b"".join(self.fragments))
                self.fragments = []
        self._flush()
        if self.ws.state is not OPEN and self.ws.close_rcvd is not None:
            self._queue_disconnect()

    def _deliver(self, payload: bytes) -> None:
        if self.fragments_text:
            try:
                text = codecs.decode(payload, "utf-8")
            except UnicodeDecodeError:
                self.ws.fail(1007, "invalid UTF-8 in a text message")
                self.close_sent = True
                return
            self._push({"type": "websocket.receive", "text": text})
        else:
            self._push({"type": "websocket.receive", "bytes": payload})

    def _queue_disconnect(self) -> None:
        if self.disconnect_queued:
            return
        self.disconnect_queued = True
        code = self.ws.close_code if self.ws.state is CLOSED else None
        if code is None:
            rcvd = self.ws.close_rcvd
            code = rcvd.code if rcvd is not None else 1006
        self._push({"type": "websocket.disconnect", "code": code, "reason": ""})

    def _push(self, message: dict[str, Any]) -> None:
        self.inbox.append(message)
        self.inbox_bytes += _size(message)
        if not self.reading_paused and (
            len(self.inbox) >= INBOX_HIGH_MESSAGES or self.inbox_bytes >= INBOX_HIGH_BYTES
        ):
            self.reading_paused = True
            if not self.gone:
                self.transport.pause_reading()
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def _drain(self) -> None:
        while self.write_paused and not self.gone:
            waiter = self.drain_waiter = self.loop.create_future()
            await waiter
        if self.gone:
            raise ClientDisconnected("the WebSocket is closed")

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_drain()

    def _wake_drain(self) -> None:
        waiter = self.drain_waiter
        if waiter is not None:
            self.drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- connection events -----------------------------------------------------------------
    def connection_lost(self, exc: Exception | None) -> None:
        if self.gone:
            return
        self.gone = True
        self.http.state.connections.discard(self.http)
        self.http.state.open_websockets.discard(self)
        self._wake_drain()
        self._queue_disconnect()

    def check_keepalive(self, now: float, interval: float, timeout: float) -> None:
        """Called by the worker's WebSocket clock (keepalive.py)."""
        ws = self.ws
        if self.gone or ws.state is not OPEN:
            return
        due = keepalive_due(self, now, interval, timeout, self.reading_paused)
        if due == PING:
            ws.send_ping(os.urandom(4))
            self._flush()
        elif due == GIVE_UP:
            self.http.state.log.lifecycle(
                "WebSocket %s: no pong in %.1fs, closing", self.request.url_path, timeout
            )
            self.close_sent = True
            ws.fail(1011, "keepalive ping timeout")
            self._flush()
            # A peer that stopped reading never lets the close frame out: cut it in time.
            self.loop.call_later(CLOSE_TIMEOUT, self._abort_if_open)

    def shutdown(self) -> None:
        """Server drain (called repeatedly): close with 1001 (going away). Not accepted yet:
        a shutdown refuses it (503); a worker retiring in a reload lets the app accept, and
        a later call closes it, as every WebSocket of the old workers (a reload refuses
        nothing)."""
        if self.accepted:
            self._close(1001, "server shutting down")
        elif self.http.state.shutting_down:
            self._http_answer(503)


def _size(message: dict[str, Any]) -> int:
    """What a message in the inbox weighs (text counted in characters: close enough)."""
    data = message.get("bytes") or message.get("text")
    return len(data) if data else 0

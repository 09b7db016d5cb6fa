"""One WebSocket session, whichever kind serves it: the `websockets` sans-I/O protocol between
a transport and the code of one connection.

RFC 6455 itself (framing, masking, fragmentation rules, ping/pong, the close handshake,
close codes, size limits, permessage-deflate) is the websockets library's ServerProtocol;
a Session moves bytes between it and the transport and keeps the connection's state:
- before accept(): what the client sends early is held (reading pauses past EARLY_BYTES) and
  fed to the protocol once the 101 is written; a refusal answers with an HTTP error instead;
- incoming messages (frame_reader.py, messages.py) wait in an inbox that the code takes from
  with next_message(), in order; reading pauses at the inbox's high marks and while the client
  does not read what we write, so a connection's memory stays bounded whatever it does;
- send_message() writes a data frame, drain() waits while the client is behind;
- close(): the closing handshake, with a timer that cuts a peer that never answers; the
  worker's drain closes with 1001 (shutdown()); keep-alive pings (keepalive.py).

Two faces run user code on it, each in one task per connection (http/user_tasks.py):
houdini_connection.py (hwebserver's WebSocket classes: connect(), receive() per message,
disconnect()) and asgi_connection.py (an ASGI app's websocket.* messages). The HttpProtocol
stays the transport's protocol and forwards data_received, eof_received,
pause/resume_writing, connection_lost and shutdown() here (the Upgraded seam, http/seams.py).
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any, NoReturn, cast

from websockets.exceptions import ProtocolError
from websockets.frames import CloseCode, Frame
from websockets.headers import parse_subprotocol
from websockets.protocol import OPEN
from websockets.typing import Subprotocol

from ...api.errors import OperationFailed
from ...api.helpers import errorResponse
from ...api.internal.tracebacks import without_server_frames
from ...api.websocket import WebSocketClosed
from ..common.keepalive import CLOSE_TIMEOUT, GIVE_UP, PING, keepalive_due
from ..http import user_tasks
from .data_frames import encode_data_frame, send_data, write_data_frame
from .frame_reader import FrameReader
from .handshake import handshake_bytes
from .messages import MessageAssembler
from .refusal import write_refusal

if TYPE_CHECKING:
    from websockets.http11 import Response as HandshakeResponse
    from websockets.server import ServerProtocol

    from ...api.request import Request
    from ...api.response import Response
    from ..http.seams import Connection

# Seconds a refused client has to read the answer and close.
REFUSAL_LINGER = 2.0
# What a client may send before it is accepted; past it, reading pauses until the answer.
EARLY_BYTES = 64 * 1024
# Messages waiting for the code: reading pauses at the high mark, resumes under the low.
INBOX_HIGH_MESSAGES = 16
INBOX_LOW_MESSAGES = 4
INBOX_HIGH_BYTES = 1 << 20
INBOX_LOW_BYTES = 1 << 18

Message = str | bytes


class Session:
    """One upgraded connection: its protocol, inbox, flow control and closing (see above).

    A face subclasses it, says how the connection's registration ends (holds_registration)
    and when its code stops getting messages (ends_at_close_frame), and starts its task."""

    # True: the session removes its connection from state.connections itself (finish()),
    # so a worker's drain waits for the code's end too.
    holds_registration = False
    # True: next_message() ends once the client's Close frame arrived; False: once the TCP
    # connection is gone (what arrived before is delivered either way).
    ends_at_close_frame = False

    __slots__ = (
        "accepted",
        "assembler",
        "close_timer",
        "discarding",
        "drain_waiters",
        "handshake",
        "held",
        "held_bytes",
        "http",
        "inbox",
        "inbox_bytes",
        "inbox_full",
        "last_seen",
        "loop",
        "lost",
        "open",
        "ping_sent_at",
        "reader",
        "refused",
        "registry",
        "request",
        "seen",
        "shutting_down",
        "state",
        "transport",
        "waiter",
        "write_paused",
        "ws",
    )

    def __init__(
        self,
        http: Connection,
        request: Request,
        protocol: ServerProtocol,
        handshake: HandshakeResponse,
        trailing: bytes,
    ) -> None:
        self.http = http
        self.state = http.state
        self.loop = http.loop
        self.transport = http.transport
        self.registry = http.state.open_websockets
        self.request = request
        self.ws = protocol
        self.handshake = handshake
        self.reader = FrameReader(protocol)
        self.assembler = MessageAssembler()
        self.accepted = False
        self.refused = False
        self.lost = False
        # Accepted, connected, and the protocol OPEN: messages may go out. Kept by _flush(),
        # which follows whatever may change the protocol's state, and by connection_lost().
        self.open = False
        self.shutting_down = False  # our 1001 went out
        self.discarding = False  # the code failed: messages are dropped from now on
        self.held: list[bytes] = [trailing] if trailing else []
        self.held_bytes = len(trailing)
        self.inbox: deque[Message] = deque()
        self.inbox_bytes = 0
        self.inbox_full = False
        self.waiter: asyncio.Future[None] | None = None  # next_message() waiting
        self.write_paused = http.write_paused
        self.drain_waiters: list[asyncio.Future[None]] = []
        self.close_timer: asyncio.TimerHandle | None = None
        # Keep-alive bookkeeping (see keepalive.py).
        self.seen = True
        self.last_seen = 0.0
        self.ping_sent_at: float | None = None

    def run(self, code: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Start the face's code: one task for the whole connection."""
        self.http.upgraded = self
        self._update_reading()
        # Not eagerly: this runs inside the parsing of the upgrade request.
        return user_tasks.start(
            self.loop,
            self.http.base_context.copy(),
            code,
            Session._ended,
            self,
            name,
            eager=False,
        )

    def _ended(self, error: BaseException | None, _result: object) -> None:
        """The face's task ended; it handles the code's errors, so this one is ours."""
        if error is not None:
            if not isinstance(error, asyncio.CancelledError):  # (the loop closing: no news)
                self.log_error("the WebSocket session", error)
            if not self.accepted:
                if not self.refused:
                    self.refuse(errorResponse(self.request, "internal error", 500))
            else:
                self.start_close(CloseCode.INTERNAL_ERROR, "internal error")
            if self.holds_registration:
                self.finish()

    # -- what the face's code calls --------------------------------------------------------
    def offered_subprotocols(self) -> list[str]:
        return [
            name
            for value in self.request.headers().get("Sec-WebSocket-Protocol", "").split(",")
            if value.strip()
            for name in parse_subprotocol(value.strip())
        ]

    async def accept(
        self, subprotocol: str | None, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Write the 101 (with `subprotocol`, which the client must have offered)."""
        if self.accepted:
            return
        if self.refused or self.lost:
            raise WebSocketClosed("the client closed the connection before it was accepted")
        if self.state.shutting_down:
            self.refuse(errorResponse(self.request, "The server is shutting down", 503))
            raise WebSocketClosed("the server is shutting down")
        response = self.handshake
        if subprotocol is not None:
            if subprotocol not in self.offered_subprotocols():
                raise ValueError(f"the client did not offer the subprotocol {subprotocol!r}")
            response.headers["Sec-WebSocket-Protocol"] = subprotocol
            self.ws.subprotocol = cast(Subprotocol, subprotocol)
        for name, value in headers:
            response.headers[name] = value
        self.accepted = True
        self.open = not self.lost and self.ws.state is OPEN
        self.transport.write(handshake_bytes(response, self.state.date_server))
        self._access_log(101)
        self.last_seen = self.loop.time()
        self.registry.add(self)
        held, self.held = self.held, []
        self.held_bytes = 0
        self._update_reading()
        for data in held:
            self.data_received(data)

    def send_message(self, payload: bytes, is_text: bool) -> bool:
        """Write one whole message; True when the client is behind (then await drain())."""
        if not self.open:
            self._not_open()
        ws = self.ws
        if ws.extensions or ws.writes:  # compressed, or a pong queued to go first
            send_data(ws, self.transport, payload, is_text, self._flush)
        else:
            write_data_frame(self.transport, payload, is_text)
        return self.write_paused or self.lost

    def encode(self, payload: bytes, is_text: bool) -> bytes:
        """The frame of a message, as send_frame() takes it (for a broadcast: made once)."""
        return encode_data_frame(payload, is_text)

    def send_frame(self, frame: bytes, payload: bytes, is_text: bool) -> bool:
        """send_message() of a frame made by encode(): written as it is unless this
        connection compresses (or has a pong to send first)."""
        if not self.open:
            self._not_open()
        ws = self.ws
        if ws.extensions or ws.writes:
            send_data(ws, self.transport, payload, is_text, self._flush)
        else:
            self.transport.write(frame)
        return self.write_paused

    def _not_open(self) -> NoReturn:
        if not self.accepted:
            raise OperationFailed("accept() the WebSocket before sending on it")
        raise WebSocketClosed("the WebSocket connection is closed")

    async def drain(self) -> None:
        while self.write_paused and not self.lost:
            waiter = self.loop.create_future()
            self.drain_waiters.append(waiter)
            await waiter
        if self.lost:
            raise WebSocketClosed("the client disconnected")

    async def close(self, code: int, reason: str) -> None:
        """The closing handshake; before accept() a refusal (403)."""
        if not self.accepted:
            if not self.refused:
                self.refuse(errorResponse(self.request, "WebSocket connection refused", 403))
            return
        try:
            self.start_close(code, reason)
        except ProtocolError as exc:
            raise ValueError(
                f"cannot close with code {code} and reason {reason!r}: {exc}"
            ) from None

    def start_close(self, code: int, reason: str) -> None:
        if not self.lost and self.ws.state is OPEN:
            self.ws.send_close(code, reason)
            self._flush()

    def refuse(self, response: Response) -> None:
        """Answer the upgrade with an HTTP error instead of 101, then close."""
        self.refused = True
        self.held = []
        self.held_bytes = 0
        self._access_log(response.status_code)
        if not self.lost:
            write_refusal(self.http, response)
            # The HTTP clock leaves upgraded connections alone: cut a client that lingers.
            if self.close_timer is None:
                self.close_timer = self.loop.call_later(REFUSAL_LINGER, self._cut)

    async def next_message(self) -> Message | None:
        """The next message, in order; None once no more come (see ends_at_close_frame)."""
        inbox = self.inbox
        while not inbox:
            if self.lost or (self.ends_at_close_frame and self.ws.close_rcvd is not None):
                return None
            await self.wait_message()
        return self.take()

    async def wait_message(self) -> None:
        """Until a message arrives or the connection ends."""
        waiter = self.waiter = self.loop.create_future()
        try:
            await waiter
        finally:
            self.waiter = None

    def take(self) -> Message:
        """The first message of the (non-empty) inbox; reading resumes under the low marks."""
        message = self.inbox.popleft()
        self.inbox_bytes -= len(message)
        if self.inbox_full:
            self._resume_under_low_marks()
        return message

    def _resume_under_low_marks(self) -> None:
        if len(self.inbox) <= INBOX_LOW_MESSAGES and self.inbox_bytes <= INBOX_LOW_BYTES:
            self.inbox_full = False
            self._update_reading()

    def discard_messages(self) -> None:
        """The code failed: close with 1011, drop what waits and what comes."""
        self.discarding = True
        self.inbox.clear()
        self.inbox_bytes = 0
        if self.inbox_full:
            self.inbox_full = False
            self._update_reading()
        self.start_close(CloseCode.INTERNAL_ERROR, "internal error")

    def close_code(self) -> int:
        """How the connection closed: the client's code, else ours, else 1006 (cut)."""
        ws = self.ws
        if ws.close_rcvd is not None:
            return int(ws.close_rcvd.code)
        if ws.close_sent is not None:
            return int(ws.close_sent.code)
        return int(CloseCode.ABNORMAL_CLOSURE)

    def log_error(self, what: str, exc: BaseException) -> None:
        without_server_frames(exc)
        self.state.log.error(
            "%s for %s raised %s",
            what,
            self.request.url_path,
            type(exc).__name__,
            exc_info=exc,
        )

    def finish(self) -> None:
        """The code is done with the connection (which is gone): unregister it."""
        self.registry.discard(self)
        if self.holds_registration:
            self.state.connections.discard(self.http)
        self.request.cleanup()
        self.inbox.clear()

    # -- the transport's side (forwarded by HttpProtocol) -----------------------------------
    def data_received(self, data: bytes) -> None:
        if not self.accepted:
            if not self.refused:
                self.held.append(data)  # fed after accept()
                self.held_bytes += len(data)
                if self.held_bytes > EARLY_BYTES:
                    self._update_reading()
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
        # from fail(); the code's send() or close() flushed its own writes already.
        if reader.forwarded or failed:
            self._flush()
            if self.ends_at_close_frame and self.ws.close_rcvd is not None:
                self._wake()

    def eof_received(self) -> None:
        """The client ended its side: the HttpProtocol closes ours, connection_lost follows."""

    def pause_writing(self) -> None:
        self.write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_drain()
        self._update_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost:
            return
        self.lost = True
        self.open = False
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        ws = self.ws
        self.reader.flush_to_protocol()  # the protocol sees every byte that arrived
        ws.receive_eof()  # an open connection becomes closed abnormally (1006)
        ws.data_to_send()
        self.registry.discard(self)
        self._wake_drain()
        self._wake()

    def shutdown(self) -> None:
        """Server shutdown (called repeatedly while draining): close with 1001, once.

        Before accept(), a shutdown refuses (503); a worker retiring in a reload lets the
        code accept, and the next call closes the WebSocket then."""
        if not self.accepted:
            if self.state.shutting_down and not self.refused:
                self.refuse(errorResponse(self.request, "The server is shutting down", 503))
            return
        if self.shutting_down:
            return
        self.shutting_down = True
        self.start_close(CloseCode.GOING_AWAY, "server shutting down")

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
    def _enqueue(self, message: Message) -> None:
        if self.discarding:
            return
        inbox = self.inbox
        inbox.append(message)
        self.inbox_bytes += len(message)
        if not self.inbox_full and (
            len(inbox) >= INBOX_HIGH_MESSAGES or self.inbox_bytes >= INBOX_HIGH_BYTES
        ):
            self.inbox_full = True
            self._update_reading()
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():  # (cancelled with the task that awaited it)
                waiter.set_result(None)

    def _wake(self) -> None:
        """next_message() looks again (the connection ended)."""
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _wake_drain(self) -> None:
        waiters, self.drain_waiters = self.drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _update_reading(self) -> None:
        """Read while accepted (or refused: to see the client go) and neither side is behind;
        before the answer, until EARLY_BYTES wait."""
        http = self.http
        if self.accepted:
            reading = not self.write_paused and not self.inbox_full
        else:
            reading = self.refused or self.held_bytes <= EARLY_BYTES
        if reading:
            http.resume_reading()
        else:
            http.pause_reading()

    def _flush(self) -> None:
        """Write what the protocol produced; an empty chunk means: end our side of the TCP."""
        ws = self.ws
        self.open = ws.state is OPEN and not self.lost
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

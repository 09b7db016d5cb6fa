"""Request bodies that stream to a mounted app (WSGI/ASGI) while they arrive.

For a route that streams (a mount), the protocol hands the request over at headers-complete
instead of after the whole body: the request is queued in arrival order right away, and the
body goes into a StreamingBody, a bounded buffer between the event loop (producer) and the app
(consumer: a handler thread for WSGI, a coroutine for ASGI). When more than MAX_BUFFERED unread
bytes wait, the connection stops reading from the socket; it reads again once the app has
consumed half of them. So a large upload never sits in memory, whatever its size.

`100 Continue` is sent when the app first reads the body, not before: an app that answers
without reading (a 401, a redirect) spares the client the upload.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from ...api.request import Request

if TYPE_CHECKING:
    from ..common.state import WorkerState
    from .seams import Transport

MAX_BUFFERED = 256 * 1024
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class ClientDisconnected(OSError):
    """The body cannot be read to its end: the client went away, stalled, or sent too much."""


class BodyStreamOwner(Protocol):
    """The connection a streamed body arrives on (http/protocol.py), as the body sees it."""

    @property
    def state(self) -> WorkerState: ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def transport(self) -> Transport: ...

    @property
    def closed(self) -> bool: ...

    def is_waiting(self, request: Request) -> bool:
        """The request is being answered, or queued to be."""
        ...

    def hold_reading(self) -> None:
        """Stop reading from the socket until release_reading(): the app is behind."""
        ...

    def release_reading(self) -> None: ...

    def close(self) -> None: ...


def body_of(request: Request) -> StreamingBody | None:
    body: Any = request.body_source
    return body if isinstance(body, StreamingBody) else None


class StreamingBody:
    """The body sink of a streamed request (see the module docstring).

    Producer side (event loop): append(), finish(), close(). Consumer side: read() from a
    thread, or await receive() on the loop. The consumer calls abandon() when it is done.
    """

    def __init__(self, protocol: BodyStreamOwner, request: Request, expect_continue: bool) -> None:
        self.protocol = protocol
        self.request = request
        self.loop = protocol.loop
        self.size = 0
        self.complete = False
        self.failure: str | None = None
        self.abandoned = False
        self.started = False
        self.continue_pending = expect_continue
        self.timeout = protocol.state.config.server.HEADER_TIMEOUT  # real seconds, not ticks
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._holding = False
        self._release_scheduled = False
        self._lock = threading.Lock()
        self._readable = threading.Condition(self._lock)
        self._waiter: asyncio.Future[None] | None = None

    # -- producer: the event loop -------------------------------------------------------------
    def append(self, data: bytes) -> None:
        self.size += len(data)
        if self.abandoned:
            return
        with self._lock:
            self._chunks.append(data)
            self._buffered += len(data)
            over = self._buffered > MAX_BUFFERED
            self._readable.notify()
        self._wake()
        if over and not self._holding:
            if not self.started and self._orphaned():
                self.abandon()  # answered without running the app (e.g. a port policy)
                return
            self._holding = True
            self.protocol.hold_reading()

    def finish(self) -> None:
        with self._lock:
            self.complete = True
            self._readable.notify_all()
        self._wake()

    def close(self) -> None:
        """The connection dropped, or the request was refused mid-body (e.g. 413)."""
        with self._lock:
            if not self.complete and self.failure is None:
                self.failure = "the client disconnected before sending the whole body"
            self._readable.notify_all()
        self._wake()

    def fail(self, reason: str) -> None:
        with self._lock:
            if self.failure is None:
                self.failure = reason
            self._readable.notify_all()
        self._wake()

    def _orphaned(self) -> bool:
        return not self.protocol.is_waiting(self.request)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _release(self) -> None:
        """On the loop: read from the socket again once the app caught up."""
        self._release_scheduled = False
        if self._holding and (self._buffered <= MAX_BUFFERED // 2 or self.abandoned):
            self._holding = False
            self.protocol.release_reading()

    def _send_continue(self) -> None:
        if self.continue_pending:
            self.continue_pending = False
            if not self.protocol.closed:
                self.protocol.transport.write(_CONTINUE)

    def abandon(self) -> None:
        """On the loop: the app is done; the rest of the body is read and dropped."""
        self.abandoned = True
        self.continue_pending = False
        with self._lock:
            self._chunks.clear()
            self._buffered = 0
            self._readable.notify_all()
        self._release()

    @property
    def exhausted(self) -> bool:
        """Everything arrived and was read."""
        return self.complete and not self._chunks

    def _settled(self) -> bool:
        """Complete, or failed: read afresh each time (a call, so that no narrowing of an
        earlier check is assumed to still hold after a wait)."""
        return self.complete or self.failure is not None

    # -- consumer in a thread (WSGI) ------------------------------------------------------------
    def read(self) -> bytes:
        """The next chunk; b"" at the end. Raises ClientDisconnected when it cannot come."""
        loop = self.loop
        with self._lock:
            if self.continue_pending and not self._chunks and not self.complete:
                loop.call_soon_threadsafe(self._send_continue)
            while not self._chunks and not self._settled():
                if not self._readable.wait(self.timeout) and not self._chunks:
                    if self._settled():  # by the loop while this thread waited
                        break
                    self.failure = "timed out waiting for the request body"
                    loop.call_soon_threadsafe(self._stall)
            if self._chunks:
                data = self._chunks.popleft()
                self._buffered -= len(data)
            elif self.complete:
                return b""
            else:
                raise ClientDisconnected(self.failure)
            schedule = self._holding and not self._release_scheduled
            if schedule:
                self._release_scheduled = True
        if schedule:
            loop.call_soon_threadsafe(self._release)
        return data

    def _stall(self) -> None:
        """A client that stops sending mid-body gets its connection closed."""
        self.protocol.close()

    # -- consumer on the loop (ASGI) -------------------------------------------------------------
    async def receive(self) -> bytes:
        """The next chunk; b"" at the end. Raises ClientDisconnected when it cannot come."""
        while not self._chunks and not self.complete and self.failure is None:
            if self.continue_pending:
                self._send_continue()
            waiter = self._waiter = self.loop.create_future()
            timer = self.loop.call_later(self.timeout, self._timed_out, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
        if self._chunks:
            with self._lock:
                data = self._chunks.popleft()
                self._buffered -= len(data)
            if self._holding:
                self._release()
            return data
        if self.complete:
            return b""
        raise ClientDisconnected(self.failure)

    def _timed_out(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done() and not self._chunks and not self.complete:
            self.fail("timed out waiting for the request body")
            self._stall()

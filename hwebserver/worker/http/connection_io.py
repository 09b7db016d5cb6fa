"""The transport side of a connection: flow control both ways, and how it ends.

Reading pauses while the connection has enough to do (a full pipeline, a streamed body the app
has not read, a client that does not read what we write); writing waits (drain) while the
transport's buffer is above its high-water mark. SEND_TIMEOUT is measured here (send_stalled),
from the worker's one-second clock. A connection ends by closing after its last answer, by a
half-close after a refusal (linger), or by an abort.

First of the three layers of HttpProtocol (then pipeline.py, then protocol.py): each adds its
own state, and a slot or method of a lower layer costs what it would in one class.
"""

from __future__ import annotations

import asyncio
import fcntl
import struct
import termios
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..common.state import WorkerState
    from .seams import Transport, Upgraded

# The buffer FIONREAD fills: a C int, the count of bytes received and not yet read.
_NO_BYTES = struct.pack("i", 0)


class ConnectionIO(asyncio.Protocol):
    """The transport, the flow control of both directions, and closing."""

    __slots__ = (
        "closed",
        "closing",
        "drain_waiter",
        "file_waiter",
        "idle_tick",
        "lingering",
        "loop",
        "reading_held",
        "reading_paused",
        "rejected",
        "send_backlog",
        "send_tick",
        "state",
        "transport",
        "upgraded",
        "write_paused",
    )

    def __init__(self, state: WorkerState) -> None:
        self.state = state
        self.loop = state.loop
        self.transport: Transport = None  # type: ignore[assignment]  # until connection_made
        self.upgraded: Upgraded | None = None
        self.closed = False
        self.closing = False
        self.rejected = False  # input after a refused request is no longer parsed
        self.lingering = False  # the refusal is sent; waiting for the client to close
        self.reading_paused = False
        self.reading_held = False  # a streamed body's buffer is full (streaming_body.py)
        self.write_paused = False
        self.drain_waiter: asyncio.Future[None] | None = None
        # A file going out with sendfile waits on this for the socket to take more (writable).
        self.file_waiter: asyncio.Future[None] | None = None
        # When the connection last went idle (a tick of the worker clock, see check_timeout).
        self.idle_tick = state.tick
        # The write backlog when last looked at, and the tick it last shrank (SEND_TIMEOUT).
        self.send_backlog = 0
        self.send_tick = 0

    def pump(self) -> None:
        """Go on with what waits for the connection to read or write again (pipeline.py)."""
        raise NotImplementedError

    # -- reading -----------------------------------------------------------------------
    def pause_reading(self) -> None:
        if not self.reading_paused and not self.closed:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and not self.closed:
            self.reading_paused = False
            self.transport.resume_reading()

    def hold_reading(self) -> None:
        self.reading_held = True
        self.pause_reading()

    def release_reading(self) -> None:
        self.reading_held = False
        if not self.closed:
            self.pump()

    # -- writing -----------------------------------------------------------------------
    def pause_writing(self) -> None:
        if self.upgraded is not None:
            self.upgraded.pause_writing()
            return
        self.write_paused = True
        self.send_tick = self.state.tick  # SEND_TIMEOUT counts from here (check_timeout)
        self.pause_reading()

    def resume_writing(self) -> None:
        if self.upgraded is not None:
            self.upgraded.resume_writing()
            return
        self.write_paused = False
        waiter = self.drain_waiter
        if waiter is not None:
            self.drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)
        self.pump()

    async def drain(self) -> None:
        if self.closed:
            raise ConnectionResetError("client disconnected")
        if self.write_paused:
            if self.drain_waiter is None:
                self.drain_waiter = self.loop.create_future()
            await self.drain_waiter

    async def writable(self, fd: int) -> None:
        """Wait until the socket `fd` (a duplicate of the transport's) takes more bytes: how a
        file sent with sendfile waits for the client, outside the transport's buffer. The wait
        is progress measured like a buffer's (send_stalled): one that lasts SEND_TIMEOUT cuts
        the connection, and ConnectionResetError ends the wait when the connection goes."""
        if self.closed:
            raise ConnectionResetError("client disconnected")
        loop = self.loop
        waiter = self.file_waiter = loop.create_future()
        self.send_tick = self.state.tick  # the socket took what came before: progress

        def wake() -> None:
            if not waiter.done():
                waiter.set_result(None)

        loop.add_writer(fd, wake)
        try:
            await waiter
        finally:
            loop.remove_writer(fd)
            self.file_waiter = None

    def send_stalled(self, tick: int) -> bool:
        """True when what waits to be written has not shrunk for SEND_TIMEOUT, whether a
        handler is still at work or not (a response the client never reads). A file going
        out with sendfile waits outside the transport's buffer: its wait for the socket to
        take more is the backlog then (see writable)."""
        backlog = self.transport.get_write_buffer_size()
        waiting = backlog > 0 or self.file_waiter is not None
        if not waiting or backlog < self.send_backlog:
            self.send_tick = tick
        self.send_backlog = backlog
        return waiting and tick - self.send_tick >= self.state.send_timeout_ticks

    def input_waiting(self) -> bool:
        """True when bytes from the client wait in the socket, not yet read: they came while
        the event loop was busy, and the worker clock runs before the loop reads sockets.
        Closing now would reset a request the client has already sent (a proxy does not send
        a POST again). Never true while reading is paused: nothing would read them."""
        if self.reading_paused or self.closed or self.transport is None:
            return False
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return False
        try:
            waiting = fcntl.ioctl(sock.fileno(), termios.FIONREAD, _NO_BYTES)
        except (OSError, ValueError):
            return False  # not a socket the kernel can tell about (closed meanwhile)
        count: int = struct.unpack("i", waiting)[0]
        return count > 0

    # -- ending ------------------------------------------------------------------------
    def linger(self) -> None:
        """Half-close: the client still sending a refused body reads our answer, not a reset."""
        self.rejected = True
        self.lingering = True
        self.idle_tick = self.state.tick
        self.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        else:
            self.close()

    def mark_closing(self) -> None:
        if not self.closing:
            self.closing = True
            self.send_tick = self.state.tick  # what is left to write has SEND_TIMEOUT to go

    def close(self) -> None:
        self.mark_closing()
        if not self.closed and self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Cut the connection now, unanswered requests and unsent bytes with it (the end of a
        drain that ran out of time)."""
        if self.transport is not None:
            self.transport.abort()

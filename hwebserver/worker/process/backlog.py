"""Taking a burst of new connections at once, not one per turn of the loop.

libuv (under uvloop) accepts one connection per listener per turn of the event loop: a second
accept() most often finds nothing, so libuv no longer tries it. A worker busy with hundreds of
connections turns its loop only a few hundred times a second, so a burst of new clients (a
load balancer failing over, a farm of render nodes reconnecting, `wrk -c1000`) waited in the
kernel's backlog for seconds while the connections already open were served, and the last
ones timed out. After each connection libuv accepts, this takes half of what is left in the
backlog in the same turn (up to BATCH), and hands each to the loop as an accepted socket. Half,
not all: workers share a listening socket, and one that took a whole burst (a load balancer
opening its pool of connections at once) would serve it alone while the others sit idle.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Any

# Connections taken per listener and turn beyond libuv's one: a bound, so that a flood of
# connects cannot starve the connections already open.
BATCH = 256

# struct tcp_info: for a listening socket, Linux reports its accept queue's length in
# tcpi_unacked (a u32 after eight one-byte fields and four u32).
_TCP_INFO = getattr(socket, "TCP_INFO", None)
_UNACKED = struct.Struct("=I")
_UNACKED_OFFSET = 24


def backlog_length(sock: socket.socket) -> int:
    """Connections waiting in `sock`'s accept queue; 0 where the kernel does not say."""
    if _TCP_INFO is None:
        return 0
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 104)
    except OSError:
        return 0
    if len(info) < _UNACKED_OFFSET + 4:
        return 0
    return int(_UNACKED.unpack_from(info, _UNACKED_OFFSET)[0])


class BacklogDrain:
    """Accepts what libuv left in a listener's backlog, as many as `room()` allows: none while
    paused or draining, and never more than the descriptor guard's headroom (descriptors.py),
    which would otherwise learn of them only once they are counted."""

    def __init__(self, loop: asyncio.AbstractEventLoop, room: Callable[[], int]) -> None:
        self.loop = loop
        self.room = room
        self.scheduled: set[int] = set()  # listening descriptors with a drain this turn

    def after_accept(
        self, sock: socket.socket, factory: Callable[[], asyncio.Protocol], tls: dict[str, Any]
    ) -> None:
        """Called as libuv accepts on `sock`: the rest of its backlog is taken this turn."""
        fd = sock.fileno()
        if fd in self.scheduled:
            return
        self.scheduled.add(fd)
        self.loop.call_soon(self._drain, sock, fd, factory, tls)

    def _drain(
        self,
        sock: socket.socket,
        fd: int,
        factory: Callable[[], asyncio.Protocol],
        tls: dict[str, Any],
    ) -> None:
        self.scheduled.discard(fd)
        if sock.fileno() != fd:
            return  # the listener was replaced meanwhile (a pause and a resume)
        for _ in range(min(BATCH, self.room(), backlog_length(sock) // 2)):
            try:
                conn, _ = sock.accept()
            except OSError:  # nothing left (EAGAIN), or EMFILE: the descriptor guard's case
                return
            conn.setblocking(False)
            task = self.loop.create_task(self.loop.connect_accepted_socket(factory, conn, **tls))
            task.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Task[Any]) -> None:
    """A connection that failed before it began (a TLS handshake that did not complete): the
    transport closed it; its error is the handshake's, and not worth a line per client."""
    if not task.cancelled():
        task.exception()

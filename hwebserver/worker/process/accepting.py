"""Accepting from the listening sockets the workers share, each worker its share.

Every worker watches the same listening sockets; a new connection wakes them all, and the
first to call accept() gets it. Left at that, the spread follows luck and timing, not load:
under `wrk -c100`, 4 workers held 5, 17, 19 and 59 connections. So before each accept a worker
compares the connections it holds with the fewest another accepting worker holds (the table
of process/shares.py): more than SLACK (or a SLACK_FRACTION of it) above, it leaves the
connection to the others and looks again RECHECK later. A fairness rule, not a lock: a worker
that waited MAX_DEFER with the backlog still not emptied by the others (they are slow, or
stuck) accepts anyway, one connection per RECHECK, so nothing waits long in the backlog for a
worker that does not come, and a worker that is merely slow still gets its share.

A worker accepts a burst in one turn of its loop (up to BATCH, and within the descriptor
guard's headroom: process/descriptors.py), not one connection per turn: a worker busy with
hundreds of connections turns its loop only a few hundred times a second, and clients of a
burst (a load balancer failing over, render nodes reconnecting) would wait in the backlog for
seconds. The fairness rule is what keeps one worker from taking a whole burst.

Pausing is removing the reader: the socket stays open (the supervisor's, shared), and the
clients waiting in its backlog stay there for the other workers, or for later.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from .shares import AcceptShares

# Connections taken per listener and turn: a bound, so that a flood of connects cannot starve
# the connections already open.
BATCH = 256
SLACK = 2  # connections a worker may hold above the least loaded before it defers ...
SLACK_FRACTION = 10  # ... or this fraction of the least's, whichever is more
RECHECK = 0.002  # s: a deferring worker looks at the backlog again this often
MAX_DEFER = 0.05  # s: then it accepts anyway, until the backlog is empty
ERROR_PAUSE = 0.1  # s: accept() failed (EMFILE, ENOBUFS): not tried again before this
ACCEPT, WAIT, LATE = range(3)  # FairShare.turn()


class FairShare:
    """This worker's side of the table: what it holds, and whether to leave a connection."""

    def __init__(
        self, shares: AcceptShares, held: Callable[[], int], clock: Callable[[], float]
    ) -> None:
        self.shares = shares
        # Connections this worker holds: open ones, and those accepted whose transport is
        # still being made (a TLS handshake).
        self.held = held
        self.clock = clock
        self.accepting = False
        self.deferring_since: float | None = None

    def publish(self) -> None:
        self.shares.publish(self.held(), self.accepting)

    def set_accepting(self, accepting: bool) -> None:
        self.accepting = accepting
        self.deferring_since = None
        self.publish()

    def turn(self) -> int:
        """What to do with the next connection: ACCEPT it, leave it to a worker that holds
        fewer (WAIT), or, having left it for MAX_DEFER to workers that do not take it,
        accept it and look again RECHECK later (LATE): one per RECHECK, not a whole burst."""
        least = self.shares.least_held_by_others()
        if least is None or self.held() <= least + max(SLACK, least // SLACK_FRACTION):
            self.deferring_since = None
            return ACCEPT
        now = self.clock()
        if self.deferring_since is None:
            self.deferring_since = now
        return WAIT if now - self.deferring_since < MAX_DEFER else LATE

    def backlog_empty(self) -> None:
        """Nothing left to accept: a deferral that ran out starts again from zero."""
        self.deferring_since = None


class Acceptor:
    """Accepts one listening socket's connections on the loop, until stop()."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        tls: dict[str, Any],
        room: Callable[[], int],
        share: FairShare | None,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.protocol_factory = protocol_factory
        self.tls = tls
        self.room = room  # connections the descriptor guard allows before its next count
        self.share = share
        self.watching = False
        self.again: asyncio.TimerHandle | None = None
        # Accepted, their transport not made yet (until their protocol's connection_made): a
        # drain waits for these too, or a connection accepted just before the listener closed
        # would be dropped unanswered; the fair share counts them as held.
        self.opening: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        if not self.watching and self.again is None:
            self.loop.add_reader(self.fd, self._readable)
            self.watching = True

    def stop(self) -> None:
        if self.again is not None:
            self.again.cancel()
            self.again = None
        if self.watching:
            self.loop.remove_reader(self.fd)
            self.watching = False

    def _look_again(self, delay: float) -> None:
        self.stop()
        self.again = self.loop.call_later(delay, self._resume)

    def _resume(self) -> None:
        self.again = None
        self.start()

    def _readable(self) -> None:
        share = self.share
        if share is not None:
            # Every worker is woken by a new connection: each says what it holds now, and
            # connections closed since its last word (a previous burst leaving) count no more.
            share.publish()
        # At least one, as the loop's own server did; more only within the guard's headroom.
        for _ in range(max(1, min(BATCH, self.room()))):
            turn = ACCEPT if share is None else share.turn()
            if turn == WAIT:
                self._look_again(RECHECK)
                return
            try:
                conn, _address = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                if share is not None:
                    share.backlog_empty()
                return
            except ConnectionAbortedError:
                continue  # the client gave up while it waited
            except OSError:
                # Out of descriptors or memory: the descriptor guard pauses this worker at its
                # next count; until then, not a busy loop on a socket that stays readable.
                self._look_again(ERROR_PAUSE)
                return
            self._open(conn)
            if turn == LATE:
                self._look_again(RECHECK)
                return

    def _open(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        task = self.loop.create_task(
            self.loop.connect_accepted_socket(self.protocol_factory, conn, **self.tls)
        )
        self.opening.add(task)
        task.add_done_callback(self._opened)
        if self.share is not None:
            self.share.publish()  # it holds one more (counted from self.opening)

    def _opened(self, task: asyncio.Task[Any]) -> None:
        self.opening.discard(task)
        # A connection that failed before it began (a TLS handshake that did not complete):
        # the transport closed it; its error is the handshake's, not worth a line per client.
        if not task.cancelled():
            task.exception()

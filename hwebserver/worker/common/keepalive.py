"""The open WebSockets of one worker, the clock that pings the idle ones, and how long a
closing one is waited for.

With WEBSOCKET_PING_INTERVAL set, a connection from which nothing arrived for that long gets
a ping; if still nothing arrives within WEBSOCKET_PING_TIMEOUT, it is closed with 1011. The
clock runs only while the worker has open WebSockets and pings are configured.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

# Both kinds of WebSocket (hwebserver's classes and ASGI apps'): once our Close frame is sent,
# the peer has this long to answer with its own before the connection is cut.
CLOSE_TIMEOUT = 10.0


class KeptAlive(Protocol):
    def check_keepalive(self, now: float, interval: float, timeout: float) -> None: ...


class Watched(Protocol):
    """The keep-alive state a connection holds; `seen` is set whenever bytes arrive."""

    seen: bool
    last_seen: float
    ping_sent_at: float | None


NOTHING, PING, GIVE_UP = range(3)


def keepalive_due(
    connection: Watched, now: float, interval: float, timeout: float, reading_paused: bool
) -> int:
    """What the keep-alive asks of a connection now: NOTHING, PING (sent now, say so) or
    GIVE_UP (no pong in time). While we do not read, the client is not the idle one."""
    if connection.seen or reading_paused:
        connection.seen = False
        connection.last_seen = now
        connection.ping_sent_at = None
        return NOTHING
    if connection.ping_sent_at is None:
        if now - connection.last_seen < interval:
            return NOTHING
        connection.ping_sent_at = now
        return PING
    return GIVE_UP if now - connection.ping_sent_at >= timeout else NOTHING


class WebSocketRegistry:
    """One per worker (WorkerState.open_websockets); connections add themselves once accepted."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, interval: float | None, timeout: float
    ) -> None:
        self.loop = loop
        self.connections: set[KeptAlive] = set()
        self.interval = interval
        self.timeout = timeout
        # Checking four times per interval keeps a ping at most a quarter interval late.
        self.period = 1.0 if interval is None else max(0.05, min(1.0, interval / 4, timeout / 4))
        self._clock: asyncio.TimerHandle | None = None

    def add(self, connection: KeptAlive) -> None:
        self.connections.add(connection)
        if self.interval is not None and self._clock is None:
            self._clock = self.loop.call_later(self.period, self._tick)

    def discard(self, connection: KeptAlive) -> None:
        self.connections.discard(connection)
        if not self.connections and self._clock is not None:
            self._clock.cancel()
            self._clock = None

    def _tick(self) -> None:
        self._clock = None
        if not self.connections or self.interval is None:
            return
        now = self.loop.time()
        for connection in list(self.connections):
            connection.check_keepalive(now, self.interval, self.timeout)
        if self.connections:
            self._clock = self.loop.call_later(self.period, self._tick)

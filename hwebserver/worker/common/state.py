"""What every connection of one worker process shares: config, routes, pool, clock, counters."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ...api.routing import Router, http_routes, websocket_routes
from .config import WorkerConfig
from .dates import date_server_lines
from .keepalive import WebSocketRegistry
from .logs import ServerLog
from .messages import Heartbeat, MetricsSnapshot
from .saturation import SaturationWatch
from .stats import RequestStats
from .threads import HandlerThreads

if TYPE_CHECKING:
    from .messages import ControlMessage, Send


def ticks_of(seconds: float) -> int:
    """The clock ticks a timeout of `seconds` lasts. The clock ticks once a second, and a
    connection notes the tick it last moved at, which may come just before the next one: a
    timeout over after N ticks could end after N-1 seconds (a new connection closed before its
    first request was read, with KEEPALIVE_TIMEOUT=1). One tick more: never shorter than asked,
    at most a second longer."""
    return max(1, math.ceil(seconds)) + 1


class ServedConnection(Protocol):
    """A client connection as the worker's clock and drain see it (http/protocol.py)."""

    @property
    def active(self) -> object | None: ...

    @property
    def upgraded(self) -> object | None: ...  # a WebSocket now (counted apart in /metrics)

    def check_timeout(self, tick: int) -> None: ...

    def idle_since(self) -> int | None: ...  # an idle keep-alive connection: since this tick

    def in_progress(self) -> str | None: ...  # "GET /slow", "a WebSocket", None when idle

    def shutdown(self, close_idle: bool = True) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class AdminLink(Protocol):
    """The admin endpoints (admin/endpoints.py) as the worker's process sees them: told of
    its control pipe once connected, and handed the supervisor's messages for them."""

    def connect(self, send: Send, link_alive: Callable[[], bool], generation: int) -> None: ...

    def on_message(self, message: ControlMessage) -> None: ...

    def provide(self, source: Callable[[], MetricsSnapshot]) -> None: ...


class AppLifespan(Protocol):
    """The lifespan of one mounted ASGI app in this worker (apps/lifespan.py), as the state
    keeps it: the apps part makes them, the state only holds them for the worker's life."""

    supported: bool
    state: dict[str, Any]
    task: asyncio.Task[None] | None  # the app's lifespan, running for the worker's life
    starting: asyncio.Task[None] | None
    starts_directly: bool

    async def startup(self) -> None: ...

    async def shutdown(self, timeout: float) -> None: ...


class WorkerCalls:
    """The worker's side of api.connection.WorkerServices: what endpoints such as /api need to
    know of the worker, and no more."""

    def __init__(self, debug: bool) -> None:
        self.debug = debug


class WorkerState:
    """One per serving event loop. Plain attributes: the protocol reads them on every request."""

    def __init__(self, config: WorkerConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.loop = loop
        self.log = ServerLog(config.verbosity, config.debug)
        self.router: Router = http_routes
        self.websocket_router: Router = websocket_routes
        # Where plain handlers, API functions and WSGI apps run (never on the loop).
        self.threads = HandlerThreads(loop, config.max_num_threads, "hwebserver-handler")
        self.saturation = SaturationWatch(self.threads, config.server.HANDLER_QUEUE_WAIT, self.log)
        self.connections: set[ServedConnection] = set()
        self.tick = 0
        self.date_server = date_server_lines()
        self.date_server_end = self.date_server + b"\r\n"
        self.requests_served = 0
        self.stats: RequestStats | None = None  # set when a port serves /metrics (stats.py)
        self.admin_endpoints: AdminLink | None = None  # the same (admin/endpoints.py)
        self.draining = False
        # Draining while a newer generation serves the same sockets (a reload): what arrives
        # on this worker's connections is still answered, WebSocket upgrades included.
        self.retiring = False
        self.access_log = config.access_log
        self.debug = config.debug
        # Hot-path copies of the options every request consults.
        self.max_request_size = config.max_request_size
        self.max_request_line = config.server.MAX_REQUEST_LINE
        self.max_header_size = config.server.MAX_HEADER_SIZE
        self.max_header_count = config.server.MAX_HEADER_COUNT
        self.header_timeout_ticks = ticks_of(config.server.HEADER_TIMEOUT)
        self.keepalive_timeout_ticks = ticks_of(config.server.KEEPALIVE_TIMEOUT)
        self.send_timeout_ticks = ticks_of(config.server.SEND_TIMEOUT)
        self.max_pipelined = config.server.MAX_PIPELINED
        self.spool_size = config.server.BODY_SPOOL_SIZE
        self.form_memory_size = config.server.FORM_MEMORY_SIZE
        self.write_high_water = config.server.WRITE_BUFFER_SIZE
        # The open WebSockets (both kinds), pinged when WEBSOCKET_PING_INTERVAL is set.
        self.open_websockets = WebSocketRegistry(
            loop, config.server.WEBSOCKET_PING_INTERVAL, config.server.WEBSOCKET_PING_TIMEOUT
        )
        # The lifespan of each mounted ASGI app, by id(app) (apps/asgi.py).
        self.asgi_lifespans: dict[int, AppLifespan] = {}
        # Given to every connection (ConnectionInfo.services): what endpoints such as /api
        # need to know of the worker (its debug flag).
        self.services = WorkerCalls(self.debug)

    @property
    def shutting_down(self) -> bool:
        """Draining for a shutdown, not a reload: a new WebSocket is refused (503)."""
        return self.draining and not self.retiring

    @property
    def in_flight(self) -> int:
        """Requests being answered now (counted when asked, not on every request)."""
        return sum(1 for connection in self.connections if connection.active is not None)

    def advance_clock(self, now: float) -> None:
        self.tick += 1
        self.date_server = date_server_lines(now)
        self.date_server_end = self.date_server + b"\r\n"

    def close(self) -> None:
        self.threads.close()
        self.log.close()

    def heartbeat(self, lag: float, rss: int) -> Heartbeat:
        """What the worker reports of itself each second (and /metrics shows of it)."""
        queued, waited = self.threads.backlog()
        heartbeat = Heartbeat(
            self.requests_served,
            self.in_flight,
            lag,
            rss,
            queued_calls=queued,
            oldest_call_wait=round(waited, 3),
        )
        stats = self.stats
        if stats is None:
            return heartbeat
        connections, websockets = self.connection_counts()
        return dataclasses.replace(
            heartbeat,
            statuses=stats.statuses[1:],
            buckets=list(stats.buckets),
            duration_sum=round(stats.duration_sum, 6),
            connections=connections,
            websockets=websockets,
        )

    def connection_counts(self) -> tuple[int, int]:
        """(plain HTTP connections, WebSockets) open now, for /metrics."""
        websockets = sum(1 for connection in self.connections if connection.upgraded is not None)
        return len(self.connections) - websockets, websockets

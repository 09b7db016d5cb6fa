"""One serving event loop: listeners, the one-second clock, and graceful draining."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from . import asgi, asgi_websocket
from .config import Listener, WorkerConfig
from .policy import build_policy
from .protocol import HttpProtocol
from .state import WorkerState
from .tls import server_ssl_context
from .upgrade import install as install_websocket_upgrade

CLOCK_INTERVAL = 1.0
DRAIN_POLL_INTERVAL = 0.05


class WorkerServer:
    """Serves `listeners` on the running loop until stop() is called, then drains."""

    def __init__(self, config: WorkerConfig, listeners: list[Listener]) -> None:
        self.config = config
        self.listeners = listeners
        self.state: WorkerState | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock: asyncio.TimerHandle | None = None
        self._drain_deadline = 0.0
        self._drain_closes_idle = True
        self._startup_hooks: list[Callable[[WorkerState], Any]] = []
        self._shutdown_hooks: list[Callable[[WorkerState], Any]] = []
        self._stopped_hooks: list[Callable[[WorkerState], Any]] = []
        asgi.install(self)  # lifespan of mounted ASGI apps
        self.add_hooks(startup=install_websocket_upgrade)

    def add_hooks(
        self,
        startup: Callable[[WorkerState], Any] | None = None,
        shutdown: Callable[[WorkerState], Any] | None = None,
        stopped: Callable[[WorkerState], Any] | None = None,
    ) -> None:
        """Extensions (WebSockets, ASGI lifespan) run code at start, when the drain begins
        (`shutdown`), and once every connection is finished or cut (`stopped`)."""
        if startup is not None:
            self._startup_hooks.append(startup)
        if shutdown is not None:
            self._shutdown_hooks.append(shutdown)
        if stopped is not None:
            self._stopped_hooks.append(stopped)

    async def start(self) -> WorkerState:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop = asyncio.Event()
        state = self.state = WorkerState(self.config, loop)
        for hook in self._startup_hooks:
            result = hook(state)
            if asyncio.iscoroutine(result):
                await result
        asgi_websocket.wrap_upgrade(state)  # after the hooks, which may install the WebSocket one
        for listener in self.listeners:
            if listener.ssl_context is None:
                listener.ssl_context = server_ssl_context(listener.settings)
            listener.policy = build_policy(listener.settings)
            state.log.open_port_log(listener.name, listener.settings)
            # A TLS handshake gets no longer than a request head: slow clients cannot hold on.
            handshake: dict[str, Any] = {}
            if listener.ssl_context is not None:
                handshake["ssl_handshake_timeout"] = float(self.config.option("HEADER_TIMEOUT"))
            server = await loop.create_server(
                lambda listener=listener: HttpProtocol(state, listener),
                sock=listener.sock,
                ssl=listener.ssl_context,
                backlog=2048,
                **handshake,
            )
            self._servers.append(server)
        if state.log.port_loggers:  # a port's file gets access lines whatever the verbosity
            state.access_log = True
        self._tick()
        return state

    def _tick(self) -> None:
        state = self.state
        assert state is not None and self._loop is not None
        state.advance_clock(time.time())
        for connection in list(state.connections):
            connection.check_timeout(state.tick)
        self._clock = self._loop.call_later(CLOCK_INTERVAL, self._tick)

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Start, report ready, serve until stop(), then drain within the graceful timeout."""
        try:
            await self.start()
            if on_ready is not None:
                on_ready()
            assert self._stop is not None
            await self._stop.wait()
            await self.drain(float(self.config.option("GRACEFUL_TIMEOUT")))
        finally:
            self.close()

    def stop(self) -> None:
        """Thread-safe: ask serve() to drain and return."""
        loop, stop = self._loop, self._stop
        if loop is None or stop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(stop.set)
        except RuntimeError:
            pass  # the loop closed meanwhile

    def stop_accepting(self) -> None:
        for server in self._servers:
            server.close()

    async def drain(self, timeout: float, close_idle: bool = True) -> None:
        """Stop accepting, let in-flight requests finish (answered with Connection: close),
        then cut what is left at the deadline.

        close_idle=True (shutdown): idle keep-alive connections are closed at once.
        close_idle=False (retiring while another generation serves the same sockets): an idle
        connection is never closed under a client that may be sending on it; its next request
        is answered with Connection: close, or it ends by the usual keep-alive timeout.
        """
        state = self.state
        assert state is not None
        state.draining = True
        self.stop_accepting()
        self._drain_closes_idle = close_idle
        self._drain_deadline = time.monotonic() + timeout
        for hook in self._shutdown_hooks:
            result = hook(state)
            if asyncio.iscoroutine(result):
                await result
        while state.connections and time.monotonic() < self._drain_deadline:
            for connection in list(state.connections):
                connection.shutdown(self._drain_closes_idle)
            await asyncio.sleep(DRAIN_POLL_INTERVAL)
        for connection in list(state.connections):
            if connection.transport is not None:
                connection.transport.abort()
        await asyncio.sleep(0)
        for hook in self._stopped_hooks:
            result = hook(state)
            if asyncio.iscoroutine(result):
                await result

    def hasten_drain(self, timeout: float | None = None) -> None:
        """During drain(): close idle connections now, and cut at most `timeout` from now."""
        self._drain_closes_idle = True
        if timeout is not None:
            self._drain_deadline = min(self._drain_deadline, time.monotonic() + timeout)

    def close(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None
        self.stop_accepting()
        if self.state is not None:
            self.state.close()

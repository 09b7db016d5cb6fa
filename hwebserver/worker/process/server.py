"""One serving event loop: listeners, the one-second clock, and graceful draining."""

from __future__ import annotations

import asyncio
import heapq
import os
import time
from collections.abc import Callable
from typing import Any

from ..admin import endpoints as admin
from ..apps import asgi, exchange
from ..common.config import Listener, WorkerConfig
from ..common.saturation import handler_name
from ..common.state import WorkerState
from ..http import user_tasks
from ..http.protocol import HttpProtocol
from ..policies import request_ids
from ..policies.build import build_policy
from ..policies.tls import server_ssl_context
from ..websockets.upgrade import preload as preload_websockets
from ..websockets.upgrade import upgrade as upgrade_to_websocket
from . import user_hooks
from .accepting import Acceptor, FairShare
from .backlog import backlog_length
from .descriptors import DescriptorGuard
from .shares import AcceptShares

CLOCK_INTERVAL = 1.0
# A worker short of descriptors closes idle keep-alive connections idle this many clock ticks
# at least (more than a second), the oldest first (descriptors.py).
RECLAIM_IDLE_TICKS = 2
DRAIN_POLL_INTERVAL = 0.05
# What the stop hooks get when the worker is told to stop at once (SIGQUIT, a second SIGINT):
# the supervisor kills a worker 2 s after telling it so (supervisor/main_loop.py STOP_GRACE).
IMMEDIATE_STOP_HOOKS_TIME = 1.0
MAX_LISTED = 5  # requests named in the drain's log line; the rest counted
# How long user code cancelled at the drain's deadline has to run its finally blocks.
CANCEL_GRACE = 1.0


class WorkerServer:
    """Serves `listeners` on the running loop until stop() is called, then drains."""

    def __init__(
        self,
        config: WorkerConfig,
        listeners: list[Listener],
        shares: AcceptShares | None = None,
    ) -> None:
        self.config = config
        self.listeners = listeners
        # The table of the connections each worker holds (process/shares.py): None when this
        # worker serves alone (no supervisor), or accepts without regard to the others.
        self.shares = shares
        self.state: WorkerState | None = None
        self._acceptors: list[Acceptor] = []
        self._closed_acceptors: list[Acceptor] = []
        self._accepting = False
        self._share: FairShare | None = None
        self._guard: DescriptorGuard | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock: asyncio.TimerHandle | None = None
        self._drain_deadline = 0.0
        self._drain_cut_reason = ""  # what the log says if the deadline cuts a request
        self._drain_closes_idle = True
        self._startup_hooks: list[Callable[[WorkerState], Any]] = []
        self._shutdown_hooks: list[Callable[[WorkerState], Any]] = []
        self._stopped_hooks: list[Callable[[WorkerState], Any]] = []
        # The lifespan of mounted ASGI apps: started before serving, shut down once drained.
        self.add_hooks(startup=asgi.lifespan_startup, stopped=asgi.lifespan_shutdown)
        self.add_hooks(startup=preload_websockets)

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
        for listener in self.listeners:
            if listener.ssl_context is None:
                listener.ssl_context = server_ssl_context(listener.options)
            listener.policy = build_policy(listener.options)
            state.log.open_port_log(listener.name, listener.options)
        admin.install(state, self.listeners)  # ADMIN_ENDPOINTS: /metrics, /livez, /readyz
        request_ids.install(state, self.listeners)  # ACCESS_LOG_FORMAT json: X-Request-Id
        # The service's @onWorkerStart hooks: once the ports' settings were found good, and
        # before anything may accept a connection (the descriptor guard may, once it exists).
        await user_hooks.run_start_hooks(self.config.server.WORKER_BOOT_TIMEOUT)
        self._guard = DescriptorGuard(
            connections=lambda: len(state.connections),
            pause=self._pause_accepting,
            resume=self._resume_accepting,
            report=state.log.warning,
            report_recovery=state.log.startup,
            schedule=loop.call_soon,
            clock=time.monotonic,
            waiting=self._clients_waiting,
            close_idle=self._close_oldest_idle,
        )
        self._guard.check()
        if self.shares is not None and self.shares.claim(os.getpid()):
            # Held: the connections begun, and those accepted whose transport is being made.
            self._share = FairShare(
                self.shares, lambda: len(state.connections) + self._opening(), time.monotonic
            )
        self._make_acceptors()
        self._start_accepting()
        if state.log.port_loggers:  # a port's file gets access lines whatever the verbosity
            state.access_log = True
        self._tick()
        return state

    def _make_acceptors(self) -> None:
        loop, state, guard = self._loop, self.state, self._guard
        assert loop is not None and state is not None and guard is not None
        for listener in self.listeners:
            # A TLS handshake gets no longer than a request head: slow clients cannot hold on.
            tls: dict[str, Any] = {"ssl": listener.ssl_context}
            if listener.ssl_context is not None:
                tls["ssl_handshake_timeout"] = self.config.server.HEADER_TIMEOUT

            def make_protocol(listener: Listener = listener) -> HttpProtocol:
                guard.accepted()
                return HttpProtocol(state, listener, exchange.STARTERS, upgrade_to_websocket)

            self._acceptors.append(
                Acceptor(loop, listener.sock, make_protocol, tls, self._room, self._share)
            )

    def _start_accepting(self) -> None:
        for acceptor in self._acceptors:
            acceptor.start()
        self._accepting = True
        if self._share is not None:
            self._share.set_accepting(True)

    def _clients_waiting(self) -> int:
        """Connections waiting in the listeners' backlogs (shared with the other workers)."""
        return sum(backlog_length(listener.sock) for listener in self.listeners)

    def _close_oldest_idle(self, count: int) -> int:
        """Close up to `count` idle keep-alive connections, the longest idle first; how many.
        One used in the last second is spared: its client is likely about to send on it."""
        state = self.state
        if state is None or count <= 0:
            return 0
        idle_before = state.tick - RECLAIM_IDLE_TICKS
        idle = [
            (since, connection)
            for connection in state.connections
            if (since := connection.idle_since()) is not None and since <= idle_before
        ]
        oldest = heapq.nsmallest(count, idle, key=lambda pair: pair[0])
        for _since, connection in oldest:
            connection.close()
        return len(oldest)

    def _room(self) -> int:
        """How many connections may be accepted now, before the descriptor guard counts."""
        guard = self._guard
        return 0 if guard is None or guard.paused else guard.headroom

    def _pause_accepting(self) -> bool:
        """Short of descriptors: stop accepting, the listening sockets staying open (their
        backlog waits, for the other workers or for later)."""
        self.stop_accepting()
        return True

    def _resume_accepting(self) -> None:
        if self.state is None or self.state.draining or self._accepting:
            return
        self._start_accepting()

    def _tick(self) -> None:
        state = self.state
        assert state is not None and self._loop is not None
        # Armed first: whatever fails below, the clock (timeouts, the Date header) goes on.
        self._clock = self._loop.call_later(CLOCK_INTERVAL, self._tick)
        state.advance_clock(time.time())
        for connection in list(state.connections):
            connection.check_timeout(state.tick)
        state.saturation.check(self._loop.time())
        if self._guard is not None:
            self._guard.tick()
        if self._share is not None:
            self._share.publish()  # the connections that closed since, and a sign of life

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Start, report ready, serve until stop(), then drain within the graceful timeout."""
        try:
            await self.start()
            if on_ready is not None:
                on_ready()
            assert self._stop is not None
            await self._stop.wait()
            await self.drain(self.config.server.GRACEFUL_TIMEOUT)
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

    def stop_accepting(self, close: bool = False) -> None:
        """Accept no more; `close`: for good (draining), the listening sockets closed in this
        worker too (the supervisor's copy serves the others)."""
        for acceptor in self._acceptors:
            acceptor.stop()
        self._accepting = False
        if self._share is not None:
            self._share.set_accepting(False)
        if not close:
            return
        # Kept until their last accepted connections have their transports (see _opening).
        self._closed_acceptors, self._acceptors = self._acceptors, []
        for listener in self.listeners:
            try:
                listener.sock.close()
            except OSError:
                pass

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
        state.retiring = not close_idle
        if self._guard is not None:
            self._guard.stop()
        self.stop_accepting(close=True)
        self._drain_closes_idle = close_idle
        self._drain_deadline = time.monotonic() + timeout
        self._drain_cut_reason = _cut_reason(timeout, f"GRACEFUL_TIMEOUT ({timeout:g}s) reached")
        for hook in self._shutdown_hooks:
            result = hook(state)
            if asyncio.iscoroutine(result):
                await result
        if close_idle:
            self._say_what_the_drain_waits_for(timeout)
        # A connection accepted before the listeners closed is served like the others, also
        # one whose transport is still being made (_opening): dropped, its client would see
        # its request refused or reset.
        while (state.connections or self._opening()) and time.monotonic() < self._drain_deadline:
            for connection in list(state.connections):
                connection.shutdown(self._drain_closes_idle)
            await asyncio.sleep(DRAIN_POLL_INTERVAL)
        left_running = await self._wait_for_user_code()
        self._cut_what_remains()
        await asyncio.sleep(0)
        if left_running:  # after the cut: a request's client has its connection cut, not a 500
            await self._cancel_user_code(left_running)
        for hook in self._stopped_hooks:
            result = hook(state)
            if asyncio.iscoroutine(result):
                await result
        # The service's @onWorkerStop hooks: after the last request, with time of their own.
        if timeout > 0:
            await user_hooks.run_stop_hooks(state.log, self.config.server.GRACEFUL_TIMEOUT)
        else:
            await user_hooks.run_stop_hooks(
                state.log, IMMEDIATE_STOP_HOOKS_TIME, "told to stop at once"
            )

    def _opening(self) -> int:
        """Connections accepted whose transport is still being made: until their protocol's
        connection_made (after the handshake, for TLS; a failed handshake ends it too), they
        are in no state.connections yet."""
        return sum(len(acceptor.opening) for acceptor in self._acceptors + self._closed_acceptors)

    def _say_what_the_drain_waits_for(self, timeout: float) -> None:
        """A shutdown that waits: what for, how long at most, and how not to wait. Said once,
        at the start (a reload's drain is routine, and not said)."""
        state = self.state
        assert state is not None
        busy = [what for what in (c.in_progress() for c in state.connections) if what]
        if not busy or timeout <= 0:
            return
        shown = ", ".join(busy[:MAX_LISTED]) + (
            f", ... ({len(busy)} in all)" if len(busy) > MAX_LISTED else ""
        )
        state.log.startup(
            "worker %d: waiting up to %gs (GRACEFUL_TIMEOUT) for %d in progress: %s; "
            "a second Ctrl-C (SIGINT) stops at once",
            os.getpid(),
            timeout,
            len(busy),
            shown,
        )

    async def _wait_for_user_code(self) -> list[asyncio.Task[Any]]:
        """User code still running once its connection is done: a handler whose client went
        away is left to finish (docs/guide.md "When the client goes away"), and so is an app's
        work after its answer. It gets what is left of the drain's time, as a request does.
        A handler thread cannot be cancelled: one still busy then is said in the log, and
        left. The tasks still running are returned, to be cancelled (_cancel_user_code). The
        ASGI lifespans are not waited for: they end after the drain (apps/asgi.py)."""
        state, loop = self.state, self._loop
        assert state is not None and loop is not None
        lifespans = {lifespan.task for lifespan in state.asgi_lifespans.values()}
        tasks = [task for task in user_tasks.running(loop) if task not in lifespans]
        while (tasks or state.threads.busy()) and time.monotonic() < self._drain_deadline:
            if tasks:  # (the deadline may move: hasten_drain)
                _, pending = await asyncio.wait(tasks, timeout=DRAIN_POLL_INTERVAL)
                tasks = list(pending)
            else:
                await asyncio.sleep(DRAIN_POLL_INTERVAL)
        threads = state.threads.busy()
        if threads:
            state.log.warning(
                "worker %d: %s, %d handler thread(s) still running, left: %s",
                os.getpid(),
                self._drain_cut_reason,
                len(threads),
                ", ".join(handler_name(thread.function, thread.argument) for thread in threads),
            )
        return tasks

    async def _cancel_user_code(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Past the drain's deadline: cancelled, said in the log, with CANCEL_GRACE for their
        finally blocks."""
        state = self.state
        assert state is not None
        state.log.warning(
            "worker %d: %s, cancelling %d task(s) of user code still running: %s",
            os.getpid(),
            self._drain_cut_reason,
            len(tasks),
            ", ".join(sorted({task.get_name() for task in tasks})),
        )
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=CANCEL_GRACE)

    def _cut_what_remains(self) -> None:
        """The drain's deadline: every connection still open is cut. Those with a request or
        a WebSocket in progress are said in the log: their clients got no answer, or part."""
        state = self.state
        assert state is not None
        left = list(state.connections)
        busy = sum(1 for each in left if each.active is not None or each.upgraded is not None)
        if busy:
            state.log.warning(
                "worker %d: %s, cutting %d request(s) or WebSocket(s) in progress",
                os.getpid(),
                self._drain_cut_reason,
                busy,
            )
        for connection in left:
            connection.abort()

    def hasten_drain(self, timeout: float | None = None) -> None:
        """During drain(): close idle connections now, and cut at most `timeout` from now."""
        self._drain_closes_idle = True
        if self.state is not None:
            self.state.retiring = False  # no longer a reload: new WebSockets are refused (503)
        if timeout is None:
            return
        deadline = time.monotonic() + timeout
        if deadline < self._drain_deadline:
            self._drain_deadline = deadline
            self._drain_cut_reason = _cut_reason(timeout, f"told to stop within {timeout:g}s")

    def close(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None
        if self._guard is not None:
            self._guard.stop()
        self.stop_accepting(close=True)
        if self._share is not None and self.shares is not None:
            self._share = None
            self.shares.release()
        if self.state is not None:
            self.state.close()


def _cut_reason(timeout: float, otherwise: str) -> str:
    return "stopping at once" if timeout <= 0 else otherwise

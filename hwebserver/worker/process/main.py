"""A worker process: serves the inherited listeners on uvloop and answers to its supervisor.

It reports READY once it accepts, a heartbeat every second from its event loop (so a loop
that stops turning falls silent), and SHUTDOWN when requestShutdown() is called. It drains
when told (DRAIN), cuts when told (STOP), and drains on its own when the supervisor is gone
(control-pipe EOF, or the parent-death signal SIGTERM).
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import signal
import socket
from collections.abc import Callable
from typing import Any, NoReturn

import psutil

from ...api.internal.tracebacks import exception_summary, format_user_exception
from ..admin import endpoints as admin
from ..common import control, messages
from ..common.config import Listener, WorkerConfig
from ..common.control import FrameDecoder
from ..common.logs import (
    REPORT_INTERVAL,
    OncePerInterval,
    ServerLog,
    flush_output,
    reopen_log_files,
)
from ..common.messages import ControlMessage, Drain, Ready, Shutdown, Stop
from . import current, launch, linux, user_hooks
from .server import WorkerServer
from .shares import AcceptShares
from .sources import application_sources

HEARTBEAT_INTERVAL = 1.0
# With a request limit (MAX_REQUESTS), how often the count is compared with it, so the
# supervisor hears at once, not at the next heartbeat, that the worker is due for recycling.
LIMIT_CHECK_INTERVAL = 0.1
# Sent by the supervisor to a worker that fell silent: every thread's stack to stderr.
STACK_DUMP_SIGNAL = signal.SIGUSR2
IMMEDIATE = "immediate"


class ControlChannel(asyncio.Protocol):
    """The worker's end of the control pipe, on the event loop."""

    def __init__(
        self, on_message: Callable[[ControlMessage], None], on_lost: Callable[[], None]
    ) -> None:
        self.on_message = on_message
        self.on_lost = on_lost
        self.decoder = FrameDecoder()
        self.transport: Any = None  # uvloop's transports do not subclass asyncio.Transport
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            decoded = [messages.decode(frame) for frame in self.decoder.feed(data)]
        except control.ControlProtocolError:
            self.on_lost()
            return
        for message in decoded:
            if message is not None:
                self.on_message(message)

    def eof_received(self) -> bool:
        self.on_lost()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.on_lost()

    def send(self, message: ControlMessage) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(messages.encode(message))

    async def close(self, timeout: float = 2.0) -> None:
        """Flush what is buffered, then close."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            pass


class WorkerProcess:
    """One worker's life: start, READY, heartbeats, then drain the way it is told."""

    def __init__(
        self,
        config: WorkerConfig,
        listeners: list[Listener],
        control_sock: socket.socket,
        generation: int,
        request_limit: int | None = None,
        shares: AcceptShares | None = None,
    ) -> None:
        self.config = config
        self.request_limit = request_limit
        self.server = WorkerServer(config, listeners, shares)
        self.control_sock = control_sock
        self.generation = generation
        self.log = ServerLog(config.verbosity, config.debug)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.channel: ControlChannel | None = None
        self.stop_mode: asyncio.Future[str] | None = None
        self.draining = False
        self.interrupts = 0
        self.asked_supervisor_to_stop = False
        self._beat_due = 0.0
        self._beat: asyncio.TimerHandle | None = None
        self._me = psutil.Process()
        self._rss = 0  # the last RSS measured, sent again when it cannot be measured
        self._beat_failures = OncePerInterval(REPORT_INTERVAL)

    # -- called from any thread ----------------------------------------------------------------
    def request_stop(self) -> None:
        """requestShutdown() in this worker: ask the supervisor to stop the whole server."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._ask_supervisor_to_stop)
        except RuntimeError:
            pass  # the loop closed meanwhile

    def _ask_supervisor_to_stop(self) -> None:
        if self.channel is not None:
            self.channel.send(Shutdown())

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> int:
        import uvloop

        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            return loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> int:
        loop = asyncio.get_running_loop()
        self.stop_mode = loop.create_future()
        _transport, self.channel = await loop.connect_accepted_socket(
            lambda: ControlChannel(self._on_message, self._on_supervisor_lost),
            sock=self.control_sock,
        )
        self._install_signals(loop)
        try:
            await self.server.start()
        except Exception as exc:
            self.channel.send(
                launch.boot_failure(format_user_exception(exc), exception_summary(exc))
            )
            await self.channel.close()
            return 1
        self.channel.send(
            Ready(
                os.getpid(),
                self.generation,
                application_sources(),
                stop_hooks=user_hooks.has_stop_hooks(),  # the supervisor waits for them too
            )
        )
        admin.connect(
            self.server.state, self.channel.send, self._supervisor_linked, self.generation
        )
        # The supervisor logs it ("ready in 0.04s"): one line per worker, not two.
        self._beat_due = loop.time() + HEARTBEAT_INTERVAL
        self._beat = loop.call_at(self._beat_due, self._heartbeat)
        if self.request_limit is not None:
            loop.call_later(LIMIT_CHECK_INTERVAL, self._check_request_limit)
        mode = await self.stop_mode
        self.draining = True
        graceful = self.config.server.GRACEFUL_TIMEOUT
        await self.server.drain(
            0.0 if mode == IMMEDIATE else graceful, close_idle=mode != control.RETIRE
        )
        self.server.close()
        if self._beat is not None:
            self._beat.cancel()
        self.log.lifecycle("worker %d (generation %d) drained", os.getpid(), self.generation)
        await self.channel.close()
        return 0

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGTERM, self._on_stop_signal, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self._on_interrupt)
        loop.add_signal_handler(signal.SIGQUIT, self._stop, IMMEDIATE)
        loop.add_signal_handler(signal.SIGUSR1, self._reopen_log_files)
        # The supervisor reloads on HUP; a worker is not reloaded by itself.
        loop.add_signal_handler(signal.SIGHUP, lambda: None)
        # A worker has its own process group; writing to a terminal must never stop it.
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        faulthandler.register(STACK_DUMP_SIGNAL, all_threads=True, chain=False)

    def _reopen_log_files(self) -> None:
        reopen_log_files()
        self.log.lifecycle("worker %d reopened its log files", os.getpid())

    def _check_request_limit(self) -> None:
        state = self.server.state
        assert self.loop is not None and state is not None and self.request_limit is not None
        if self.draining:
            return
        if state.requests_served >= self.request_limit:
            self._send_heartbeat()  # its count tells the supervisor to recycle this worker
        else:
            self.loop.call_later(LIMIT_CHECK_INTERVAL, self._check_request_limit)

    def _heartbeat(self) -> None:
        """Never stops: a heartbeat that could not be built is logged, and the next one is
        armed all the same (a silent worker is killed by its supervisor)."""
        assert self.loop is not None
        try:
            self._send_heartbeat()
        except Exception:
            if self._beat_failures.allow(self.loop.time()):
                self.log.error("worker %d could not send its heartbeat", os.getpid(), exc_info=True)
        finally:
            self._beat_due = self.loop.time() + HEARTBEAT_INTERVAL
            self._beat = self.loop.call_at(self._beat_due, self._heartbeat)

    def _send_heartbeat(self) -> None:
        loop = self.loop
        state = self.server.state
        assert loop is not None and state is not None and self.channel is not None
        now = loop.time()
        lag = round(max(0.0, now - self._beat_due), 4)
        self.channel.send(state.heartbeat(lag, self._measure_rss()))

    def _measure_rss(self) -> int:
        """psutil opens /proc/<pid>/statm each time: with no descriptor left (EMFILE) that
        is a plain OSError, and the last value measured is the best answer."""
        try:
            self._rss = self._me.memory_info().rss
        except (psutil.Error, OSError):
            pass
        return self._rss

    # -- stopping ------------------------------------------------------------------------------
    def _on_message(self, message: ControlMessage) -> None:
        if isinstance(message, Drain):
            mode = message.mode
            self._stop(control.RETIRE if mode == control.RETIRE else control.SHUTDOWN_MODE)
        elif isinstance(message, Stop):
            self._stop(IMMEDIATE)
        else:
            admin.on_control_message(self.server.state, message)

    def _supervisor_linked(self) -> bool:
        transport = self.channel.transport if self.channel is not None else None
        return transport is not None and not transport.is_closing()

    def _on_supervisor_lost(self) -> None:
        """No supervisor: nobody will take over these sockets, so drain as for a shutdown."""
        self._stop(control.SHUTDOWN_MODE)

    def _on_interrupt(self) -> None:
        self.interrupts += 1
        if self.interrupts > 1:
            self._stop(IMMEDIATE)
        else:
            self._on_stop_signal("SIGINT")

    def _on_stop_signal(self, name: str) -> None:
        """SIGTERM or SIGINT from outside (the supervisor never signals a worker to stop it):
        a tool that stops "the server" by the pid a handler reported means the whole service,
        as it would stop hython. The supervisor drains every worker, this one included. With
        no supervisor to ask (it died: this is the parent-death signal), or when asked again,
        this worker drains on its own."""
        channel = self.channel
        if channel is not None and not self.asked_supervisor_to_stop:
            transport = channel.transport
            if transport is not None and not transport.is_closing():
                self.asked_supervisor_to_stop = True
                channel.send(Shutdown(name))
                return
        self._stop(control.SHUTDOWN_MODE)

    def _stop(self, mode: str) -> None:
        future = self.stop_mode
        if future is None:
            return
        if not future.done():
            future.set_result(mode)
        elif self.draining and mode != control.RETIRE:
            # Already retiring, now asked to shut down (or to stop now): hurry up.
            self.server.hasten_drain(0.0 if mode == IMMEDIATE else None)


def run_worker(
    config: WorkerConfig,
    listeners: list[Listener],
    control_sock: socket.socket,
    generation: int,
    request_limit: int | None = None,
    shares: AcceptShares | None = None,
) -> int:
    """The worker's main; returns its exit status. The caller exits the process with it.
    `shares`: the table of the connections the service's workers hold (shares.py)."""
    worker = WorkerProcess(config, listeners, control_sock, generation, request_limit, shares)
    current.replace(worker)
    try:
        return worker.run()
    finally:
        current.release(worker)


def prepare_worker_process(supervisor_pid: int) -> None:
    """In a new worker, before anything else: its own process group, die with the parent,
    and large bodies through reused heap memory (linux.keep_chunk_buffers_in_heap)."""
    try:
        os.setpgid(0, 0)
    except OSError:
        pass  # already a group leader (spawned workers set it before exec)
    linux.set_parent_death_signal(signal.SIGTERM)
    if linux.orphaned(supervisor_pid):
        os._exit(0)
    linux.keep_chunk_buffers_in_heap()


def flush_and_exit(code: int) -> NoReturn:
    """Leave without running the application's atexit handlers or code after run(): those
    belong to the process that called run() first, not to its workers."""
    flush_output()
    os._exit(code)

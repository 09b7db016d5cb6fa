"""Serving inside the calling process: from a background thread (in_background=True), or in
the calling thread when a supervisor is not possible (not the main thread, no fork)."""

from __future__ import annotations

import asyncio
import atexit
import signal
import threading
from collections.abc import Callable

from ...api.errors import OperationFailed
from ...api.internal import tempdir
from ...api.internal.tracebacks import exception_summary
from ..common.config import Listener, WorkerConfig
from . import current
from .server import WorkerServer


class InProcessServer:
    """The server of this process, so requestShutdown() and a second run() can find it."""

    def __init__(self, server: WorkerServer) -> None:
        self.server = server
        self.thread: threading.Thread | None = None
        self.stop_requested = False

    def request_stop(self) -> None:
        self.stop_requested = True
        self.server.stop()

    @property
    def serving(self) -> bool:
        """Its thread serves, and nobody asked it to stop (it may still be finishing)."""
        return not self.stop_requested and self.thread is not None and self.thread.is_alive()


def new_event_loop() -> asyncio.AbstractEventLoop:
    import uvloop

    return uvloop.new_event_loop()


def _claim(server: WorkerServer, close: Callable[[], None]) -> InProcessServer:
    """Become this process's server, or release the listeners and say why not."""
    # No supervisor here to remove what a killed predecessor left: a start does it.
    tempdir.sweep_dirs_of_dead_processes()
    running = InProcessServer(server)
    try:
        current.claim(running)
    except BaseException:
        close()
        raise
    return running


def serve_in_background(
    config: WorkerConfig, listeners: list[Listener], close: Callable[[], None]
) -> InProcessServer:
    """Start a daemon thread serving `listeners`; return once it accepts (or failed to)."""
    server = WorkerServer(config, listeners)
    running = _claim(server, close)
    ready = threading.Event()
    failure: list[BaseException] = []

    def stop_at_exit() -> None:
        """The interpreter exits with the server still up (hython's script ended, the
        interactive session quit): drain it as requestShutdown() would, so requests in
        progress finish and the @onWorkerStop hooks run, within their timeouts."""
        thread = running.thread
        if thread is None or not thread.is_alive():
            return
        server.stop()
        thread.join(2 * config.server.GRACEFUL_TIMEOUT + 1.0)

    def thread_main() -> None:
        loop = new_event_loop()
        try:
            loop.run_until_complete(server.serve(on_ready=ready.set))
        except BaseException as exc:
            failure.append(exc)
        finally:
            loop.close()
            close()
            current.release(running)
            atexit.unregister(stop_at_exit)
            ready.set()

    running.thread = threading.Thread(target=thread_main, name="hwebserver", daemon=True)
    atexit.register(stop_at_exit)
    running.thread.start()
    ready.wait()
    if failure:
        reason = exception_summary(failure[0])  # a start hook's RuntimeError: named as such
        raise OperationFailed(f"the server failed to start: {reason}") from failure[0]
    return running


def serve_here(config: WorkerConfig, listeners: list[Listener], close: Callable[[], None]) -> None:
    """Serve in this thread until requestShutdown() (or SIGINT/SIGTERM in the main thread)."""
    server = WorkerServer(config, listeners)
    running = _claim(server, close)
    loop = new_event_loop()
    in_main_thread = threading.current_thread() is threading.main_thread()
    handled = (signal.SIGINT, signal.SIGTERM) if in_main_thread else ()
    interrupts = 0

    def on_signal(signum: int) -> None:
        nonlocal interrupts
        interrupts += 1
        if signum == signal.SIGINT and interrupts > 1:
            loop.stop()
        running.request_stop()

    try:
        for signum in handled:
            loop.add_signal_handler(signum, on_signal, signum)
        loop.run_until_complete(server.serve())
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        loop.close()
        close()
        current.release(running)

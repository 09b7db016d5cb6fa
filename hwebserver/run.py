"""run(): decide what this process is (background thread, supervisor, or worker) and hand over."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .api.errors import OperationFailed
from .supervisor.listeners import bind_all, close_all
from .supervisor.options import RunOptions, build_options
from .worker.config import Listener
from .worker.logs import ServerLog, setup_console_logging
from .worker.server import WorkerServer

_state_lock = threading.Lock()
_running: _RunningServer | None = None
_debug_mode = False


class _RunningServer:
    """The server this process runs, so requestShutdown() and a second run() can find it."""

    def __init__(self, server: WorkerServer) -> None:
        self.server = server
        self.thread: threading.Thread | None = None
        self.stop_requested = threading.Event()

    def request_stop(self) -> None:
        self.stop_requested.set()
        self.server.stop()


def isInDebugMode() -> bool:
    return _debug_mode


def requestShutdown() -> None:
    """Stop the whole server: from any handler, thread or worker process, or from the host."""
    running = _running
    if running is not None:
        running.request_stop()


def run(
    port: int = 8008,
    debug: bool = False,
    max_num_threads: int = 4,
    in_background: bool | None = None,
    reload_source_changes: bool | None = None,
    max_in_memory_file_upload_size: int | None = None,
    max_request_size: int | None = None,
    settings: str | Mapping[str, Any] | None = None,
    ports: Iterable[Any] = (),
    verbosity: Any = None,
    port_callback: Callable[[str, int], Any] | None = None,
    max_port: int | None = None,
    allow_system_port: bool = False,
    workers: int = 1,
    address: str | None = None,
) -> None:
    """Start serving; see API.md section 1 for every parameter."""
    global _debug_mode
    with _state_lock:
        if _running is not None:
            raise OperationFailed("a server is already running in this process")
    options = build_options(
        port=port,
        debug=debug,
        max_num_threads=max_num_threads,
        in_background=in_background,
        reload_source_changes=reload_source_changes,
        max_in_memory_file_upload_size=max_in_memory_file_upload_size,
        max_request_size=max_request_size,
        settings=settings,
        ports=ports,
        verbosity=verbosity,
        port_callback=port_callback,
        max_port=max_port,
        allow_system_port=allow_system_port,
        workers=workers,
        address=address,
    )
    setup_console_logging()
    _debug_mode = options.config.debug
    listeners = bind_all(options.specs)
    try:
        announce(options, listeners)
    except BaseException:
        close_all(listeners)
        raise
    if options.in_background:
        _serve_in_background(options, listeners)
    else:
        _serve_blocking(options, listeners)


def announce(options: RunOptions, listeners: list[Listener]) -> None:
    """Start-up lines, then port_callback once per listener; a failing callback is only logged."""
    log = ServerLog(options.config.verbosity, options.config.debug)
    for listener in listeners:
        host, bound_port = listener.sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if listener.settings.get("SSL_CERTIFICATE") else "http"
        log.startup("serving %r on %s://%s:%d", listener.name, scheme, shown, bound_port)
        if options.port_callback is not None:
            try:
                options.port_callback(listener.name, bound_port)
            except Exception:
                log.error("port_callback(%r, %d) raised", listener.name, bound_port, exc_info=True)


def _register(server: WorkerServer) -> _RunningServer:
    global _running
    with _state_lock:
        if _running is not None:
            raise OperationFailed("a server is already running in this process")
        _running = _RunningServer(server)
        return _running


def _unregister(running: _RunningServer) -> None:
    global _running
    with _state_lock:
        if _running is running:
            _running = None


def new_event_loop() -> asyncio.AbstractEventLoop:
    import uvloop

    return uvloop.new_event_loop()


def _serve_in_background(options: RunOptions, listeners: list[Listener]) -> None:
    server = WorkerServer(options.config, listeners)
    try:
        running = _register(server)
    except BaseException:
        close_all(listeners)
        raise
    ready = threading.Event()
    failure: list[BaseException] = []

    def thread_main() -> None:
        loop = new_event_loop()
        try:
            loop.run_until_complete(server.serve(on_ready=ready.set))
        except BaseException as exc:
            failure.append(exc)
        finally:
            loop.close()
            close_all(listeners)
            _unregister(running)
            ready.set()

    running.thread = threading.Thread(target=thread_main, name="hwebserver", daemon=True)
    running.thread.start()
    ready.wait()
    if failure:
        raise OperationFailed(f"the server failed to start: {failure[0]}") from failure[0]


def _serve_blocking(options: RunOptions, listeners: list[Listener]) -> None:
    """Serve in this thread until SIGINT/SIGTERM or requestShutdown(); a second SIGINT cuts."""
    server = WorkerServer(options.config, listeners)
    try:
        running = _register(server)
    except BaseException:
        close_all(listeners)
        raise
    loop = new_event_loop()
    interrupts = 0

    def on_signal(signum: int) -> None:
        nonlocal interrupts
        interrupts += 1
        if signum == signal.SIGINT and interrupts > 1:
            loop.stop()
        running.request_stop()

    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal, signum)
        loop.run_until_complete(server.serve())
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        loop.close()
        close_all(listeners)
        _unregister(running)

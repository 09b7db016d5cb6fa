"""run(): decide what this process is (background thread, supervisor, or worker) and hand over.

- A process started by a supervisor for a reload (HWEBSERVER_WORKER in its environment)
  becomes a worker on the inherited sockets when its script reaches run().
- A process started to check new code before a reload without a supervisor (a `check_only`
  launch) reports that its script reached run(), and exits.
- in_background=True: an in-process server on a daemon thread (worker/process/inprocess.py).
- supervisor=False (or HWEBSERVER_SUPERVISOR=0), in the main thread: the calling process serves
  in the foreground itself, and reloads by re-executing in place (foreground/).
- Otherwise the calling process becomes the supervisor (supervisor/main_loop.py), which
  forks the first workers; only where that is impossible (not the main thread, no fork) does
  the server run in the calling thread.
"""

from __future__ import annotations

import os
import socket
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any, NoReturn

from . import command_line, startup_checks
from .api.errors import OperationFailed
from .api.internal.run_arguments import RunArguments, describe_arguments
from .foreground import handover
from .foreground import server as foreground
from .supervisor import systemd
from .supervisor.listeners import acquire_all, close_all
from .supervisor.main_loop import Supervisor
from .supervisor.options import RunOptions, build_options
from .worker.common.config import Listener
from .worker.common.logs import ServerLog, logger, setup_console_logging
from .worker.process import current, inprocess, launch
from .worker.process import main as process
from .worker.process.shares import AcceptShares
from .worker.process.sources import application_sources

# A spawned worker reports a failure to import the application from here on.
launch.take_from_environment()
# A process re-executed in place for a reload takes its listening sockets (foreground/).
handover.take_from_environment()

_debug_mode = False


def isInDebugMode() -> bool:
    """Whether the server runs with `debug=True` (or `--debug`): every request logged,
    tracebacks in 500 answers, reloads on source changes. False before `run()`."""
    return _debug_mode


def requestShutdown() -> None:
    """Stop the whole server, gracefully (as SIGTERM to the supervisor does): from any
    handler, thread or worker process, or from the process that called
    `run(in_background=True)`. `run(in_background=False)` then returns.

    Example:
        ```python
        @hwebserver.urlHandler("/admin/stop", methods=["POST"])
        def stop(request):
            hwebserver.requestShutdown()
            return "stopping"
        ```
    """
    server = current.get()
    if server is not None:
        server.request_stop()


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
    supervisor: bool = True,
) -> None:
    # The docstring is RUN_DOC below, its argument list made from api/internal/run_arguments.py.
    global _debug_mode
    scripts_arguments = dict(locals())  # the arguments only: nothing else is bound yet
    # Under `hwebserver APP --port ...` the options typed win over the script's own.
    try:
        arguments = RunArguments.from_mapping(command_line.apply(scripts_arguments))
    except Exception as exc:
        command_line.note_startup_failure(exc)
        raise
    build = partial(build_options, arguments, typed_settings=command_line.settings())
    claimed = launch.claim()
    if claimed is not None and claimed.check_only:
        _report_checked(claimed, partial(build, warn_settings=False))
    if claimed is not None:
        # Its settings file was read, and any warning about it given, when run() first ran.
        _serve_as_spawned_worker(claimed, partial(build, warn_settings=False))
    if current.get() is not None:
        raise OperationFailed("a server is already running in this process")
    setup_console_logging()  # first: reading the settings may warn
    try:
        options = build()
        inherited = [*handover.inherited_sockets(), *systemd.inherited_sockets()]
        listeners = acquire_all(options.specs, inherited)
    except Exception as exc:
        command_line.note_startup_failure(exc)
        raise
    first_start = handover.taken() is None  # not a reload's re-executed image
    if first_start:  # said once, as the settings file's warnings are
        startup_checks.warn_about_what_is_registered(startup_checks.service_name())
    replaced = command_line.overridden_port(scripts_arguments)
    if replaced is not None:
        # What the user typed, so not a warning; said once, since the script shows another port.
        logger.info("--port %d replaces port %d of the script's run()", replaced[1], replaced[0])
    _debug_mode = options.config.debug
    in_main_thread = threading.current_thread() is threading.main_thread()
    serves_itself = not options.in_background and not options.supervisor and in_main_thread
    if serves_itself:
        # Until its handler is in place: a HUP sent once the port is announced must not kill.
        handover.hold_signals()
    close = partial(close_all, listeners)
    try:
        announce(options, listeners)
    except BaseException:
        handover.release_held_signals()
        close()
        raise
    if options.in_background:
        handover.release_held_signals()
        running = inprocess.serve_in_background(options.config, listeners, close)
        startup_checks.warn_if_script_ends_while_serving(startup_checks.service_name(), running)
    elif serves_itself:
        _serve_in_foreground(options, listeners)
    elif hasattr(os, "fork") and in_main_thread:
        _supervise(options, listeners)
    else:
        inprocess.serve_here(options.config, listeners, close)


RUN_DOC = """Start serving the handlers registered so far.

Arguments (all optional):

{arguments}

Example:
    ```python
    @hwebserver.urlHandler("/hello")
    def hello(request):
        return hwebserver.Response("Hello")

    hwebserver.run(port=8008, in_background=False)
    ```
"""
run.__doc__ = RUN_DOC.format(arguments=describe_arguments())


def announce(options: RunOptions, listeners: list[Listener]) -> None:
    """Start-up lines, then port_callback once per listener; a failing callback is only logged."""
    log = ServerLog(options.config.verbosity, options.config.debug)
    for listener in listeners:
        host, bound_port = listener.sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if listener.options.SSL_CERTIFICATE else "http"
        log.startup("serving %r on %s://%s:%d", listener.name, scheme, shown, bound_port)
        if options.port_callback is not None:
            try:
                options.port_callback(listener.name, bound_port)
            except Exception:
                log.error("port_callback(%r, %d) raised", listener.name, bound_port, exc_info=True)
    if _stopped_by_ctrl_c(options) and handover.taken() is None:
        # What a newcomer looks for first: how to stop it, and that a second Ctrl-C is sure.
        log.startup("press Ctrl-C to stop (gracefully; a second Ctrl-C stops at once)")


def _stopped_by_ctrl_c(options: RunOptions) -> bool:
    """A blocking run in the main thread, not a systemd service (which has no terminal)."""
    if options.in_background or threading.current_thread() is not threading.main_thread():
        return False
    return not (os.environ.get("INVOCATION_ID") or os.environ.get("NOTIFY_SOCKET"))


def _supervise(options: RunOptions, listeners: list[Listener]) -> None:
    supervisor = Supervisor(options, listeners)
    try:
        current.claim(supervisor)
    except BaseException:
        close_all(listeners)
        raise
    try:
        supervisor.serve()
    finally:
        current.release(supervisor)


def _serve_in_foreground(options: RunOptions, listeners: list[Listener]) -> None:
    if options.workers != 1:
        logger.warning(
            "workers=%d ignored: without a supervisor this process serves alone", options.workers
        )
    server = foreground.ForegroundServer(options, listeners, handover.taken())
    try:
        current.claim(server)
    except BaseException:
        close_all(listeners)
        raise
    try:
        server.run()
    finally:
        close_all(server.listeners)
        current.release(server)


def _report_checked(claimed: launch.WorkerLaunch, build: Callable[[], RunOptions]) -> NoReturn:
    """The check before a reload without a supervisor: the new code reached run(), and its
    options and settings hold. Nothing is bound or served; the process ends here."""
    try:
        build()
    except BaseException as exc:
        launch.report_failure(claimed, exc)
        process.flush_and_exit(1)
    try:
        launch.report_checked(claimed, application_sources())
    except OSError:
        process.flush_and_exit(1)
    process.flush_and_exit(0)


def _serve_as_spawned_worker(
    claimed: launch.WorkerLaunch, build: Callable[[], RunOptions]
) -> NoReturn:
    """The new code's options, the supervisor's sockets; the process ends here."""
    global _debug_mode
    try:
        process.prepare_worker_process(claimed.supervisor_pid)
        options = build()
        setup_console_logging()
        _debug_mode = options.config.debug
        by_name = {spec.name: spec.settings for spec in options.specs}
        listeners = [
            Listener.from_fd(name, fd, dict(by_name.get(name, {})))
            for name, fd in claimed.listener_fds
        ]
        control_sock = socket.socket(fileno=claimed.control_fd)
        shares = None if claimed.shares_fd is None else AcceptShares(claimed.shares_fd)
    except BaseException as exc:
        launch.report_failure(claimed, exc)
        process.flush_and_exit(1)
    code = 1
    try:
        code = process.run_worker(
            options.config,
            listeners,
            control_sock,
            claimed.generation,
            claimed.request_limit,
            shares,
        )
    except BaseException:
        traceback.print_exc()
    process.flush_and_exit(code)

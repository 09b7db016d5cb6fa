"""Starting worker processes: forked (generation 0, sharing the state the script built) or
spawned from the original command line (reloads, which must load the code anew)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..worker.common.config import Listener
from ..worker.common.logs import logger
from ..worker.process import linux, main
from ..worker.process.launch import ENV_NAME, WorkerLaunch
from . import signals

# Where the service was started from: a reload re-runs its command line from there, even if
# the script changed directory before calling run().
LAUNCH_CWD = os.getcwd()


@dataclass
class Started:
    pid: int
    sock: socket.socket  # the supervisor's end of the control pipe, non-blocking
    process: subprocess.Popen[bytes] | None = None


def _control_pair() -> tuple[socket.socket, socket.socket]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.setblocking(False)
    return ours, theirs


def fork_worker(
    child_main: Callable[[socket.socket], int], close_in_child: Iterable[int]
) -> Started:
    """fork(); the child closes the supervisor's private fds, resets signals, runs
    child_main(control socket) and exits with its status, never returning here."""
    others = threading.active_count() - 1
    if others:
        logger.warning(
            "forking a worker while %d other thread(s) exist in the supervisor process; "
            "start threads after run() or in handlers",
            others,
        )
    ours, theirs = _control_pair()
    supervisor_pid = os.getpid()
    with signals.blocked():
        pid = os.fork()
        if pid == 0:
            _forked_child(supervisor_pid, ours, theirs, child_main, close_in_child)
    theirs.close()
    try:
        os.setpgid(pid, pid)  # also done by the child: whichever runs first
    except OSError:
        pass
    return Started(pid, ours)


def _forked_child(
    supervisor_pid: int,
    ours: socket.socket,
    theirs: socket.socket,
    child_main: Callable[[socket.socket], int],
    close_in_child: Iterable[int],
) -> None:
    code = 1
    try:
        signals.reset_in_child()
        ours.close()
        for fd in close_in_child:
            try:
                os.close(fd)
            except OSError:
                pass
        _stdin_from_devnull()
        main.prepare_worker_process(supervisor_pid)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        code = child_main(theirs)
    except BaseException:
        traceback.print_exc()
    finally:
        main.flush_and_exit(code)


def _stdin_from_devnull() -> None:
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)


def reload_command() -> list[str]:
    """The command line this service was started with, on this interpreter."""
    return [sys.executable, *sys.orig_argv[1:]]


def script_syntax_error(command: list[str]) -> SyntaxError | None:
    """The SyntaxError of the script a reload would run (`python service.py`), found before a
    worker is spawned: such a worker fails before it imports hwebserver, so it could not
    report its failure, and Python would print it raw on the shared stderr. None when the
    script compiles, or the command runs no script file (`-m`, `-c`: hwebserver reports)."""
    script = command[1] if len(command) > 1 and not command[1].startswith("-") else None
    if script is None:
        return None
    path = os.path.join(LAUNCH_CWD, script)
    try:
        with open(path, "rb") as file:
            source = file.read()
    except OSError:
        return None  # the worker's own exit says it
    try:
        compile(source, os.path.abspath(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        return exc
    except ValueError:  # null bytes: Python's own refusal, in the worker
        return None
    return None


def spawn_worker(
    command: list[str],
    listeners: list[Listener],
    generation: int,
    request_limit: int | None,
    shares_fd: int | None = None,
) -> Started:
    """Run the service's command line again, as a worker: the listener fds, the control
    pipe and the table of connections per worker are inherited and named in the environment."""
    ours, theirs = _control_pair()
    supervisor_pid = os.getpid()
    launch = WorkerLaunch(
        supervisor_pid,
        generation,
        theirs.fileno(),
        tuple((listener.name, listener.sock.fileno()) for listener in listeners),
        request_limit,
        shares_fd=shares_fd,
    )
    env = dict(os.environ)
    env[ENV_NAME] = launch.to_env()
    pass_fds = [theirs.fileno(), *(listener.sock.fileno() for listener in listeners)]
    if shares_fd is not None:
        pass_fds.append(shares_fd)

    def before_exec() -> None:
        # Runs in the child between fork and exec; the supervisor has no other thread.
        os.setpgid(0, 0)
        linux.set_parent_death_signal(signal.SIGTERM)

    try:
        child = subprocess.Popen(
            command,
            env=env,
            cwd=LAUNCH_CWD,
            stdin=subprocess.DEVNULL,
            pass_fds=pass_fds,
            preexec_fn=before_exec,
            restore_signals=True,
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return Started(child.pid, ours, child)

"""How a spawned worker learns that it is one: the environment its supervisor sets.

A reload re-runs the service's command line with HWEBSERVER_WORKER naming the inherited
listener fds and the control pipe. Importing hwebserver in such a process takes the variable
out of the environment (the application's own subprocesses must not see it) and, until run()
claims the launch, reports a failure to boot (an exception while importing, an exit before
run()) over the control pipe with its traceback, so the supervisor can log it and keep the
old generation serving. Once reported, the failure is the supervisor's to log: the worker
does not print it to the stderr it shares with the supervisor as well (that made every broken
edit appear twice, once as raw stderr).

A check launch (`check_only`, no listeners) is the short-lived child a service serving without
a supervisor starts before it re-executes itself for a reload (foreground/check.py): it
imports the script up to run(), where it reports READY with the application's sources and
exits, or reports why it could not get there.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import sys
from dataclasses import dataclass
from types import TracebackType

from ...api.internal.tracebacks import exception_summary, format_user_exception
from ..common.messages import BootFailed, Ready, encode
from . import linux

ENV_NAME = "HWEBSERVER_WORKER"


@dataclass(frozen=True)
class WorkerLaunch:
    supervisor_pid: int
    generation: int
    control_fd: int
    listener_fds: tuple[tuple[str, int], ...]
    request_limit: int | None = None
    check_only: bool = False
    shares_fd: int | None = None  # the table of connections per worker (shares.py)

    def to_env(self) -> str:
        return json.dumps(
            {
                "supervisor_pid": self.supervisor_pid,
                "generation": self.generation,
                "control_fd": self.control_fd,
                "listeners": [list(pair) for pair in self.listener_fds],
                "request_limit": self.request_limit,
                "check_only": self.check_only,
                "shares_fd": self.shares_fd,
            }
        )

    @classmethod
    def from_env(cls, text: str) -> WorkerLaunch:
        data = json.loads(text)
        return cls(
            int(data["supervisor_pid"]),
            int(data["generation"]),
            int(data["control_fd"]),
            tuple((str(name), int(fd)) for name, fd in data["listeners"]),
            data.get("request_limit"),
            bool(data.get("check_only", False)),
            data.get("shares_fd"),
        )


class _PendingLaunch:
    """The launch read from the environment, until run() claims it."""

    def __init__(self, launch: WorkerLaunch) -> None:
        self.launch = launch
        self.claimed = False
        self.reported = False

    def report(self, error: str, summary: str | None = None) -> bool:
        """Send BOOT_FAILED on a duplicate of the control fd (the loop does not run yet).
        True if this call told the supervisor."""
        if self.claimed or self.reported:
            return False
        self.reported = True
        try:
            with socket.socket(fileno=os.dup(self.launch.control_fd)) as sock:
                sock.setblocking(True)
                sock.settimeout(5.0)
                sock.sendall(encode(boot_failure(error, summary)))
        except OSError:
            return False  # the supervisor still sees the exit before READY
        return True


_pending: list[_PendingLaunch] = []


def take_from_environment() -> None:
    """Called once when hwebserver is imported."""
    text = os.environ.pop(ENV_NAME, None)
    if not text or _pending:
        return
    pending = _PendingLaunch(WorkerLaunch.from_env(text))
    _pending.append(pending)
    if pending.launch.check_only:
        # Nothing ends a check that hangs at import but its parent: die with it.
        linux.set_parent_death_signal(signal.SIGKILL)
        if linux.orphaned(pending.launch.supervisor_pid):
            os._exit(1)
    previous_hook = sys.excepthook

    def report_exception(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        if not pending.report(format_user_exception(value), exception_summary(value)):
            previous_hook(kind, value, tb)  # nobody else will show it

    def report_early_exit() -> None:
        reason = "the application exited without calling hwebserver.run()"
        pending.report(reason, reason)

    sys.excepthook = report_exception
    atexit.register(report_early_exit)


def claim() -> WorkerLaunch | None:
    """run() in a spawned worker: the launch, which run() now reports on itself."""
    if not _pending or _pending[0].claimed:
        return None
    _pending[0].claimed = True
    return _pending[0].launch


def started_by_supervisor() -> bool:
    """This process is a worker a reload started (whether or not run() claimed it yet)."""
    return bool(_pending)


def report_checked(launch: WorkerLaunch, sources: list[str]) -> None:
    """A check launch reached run(): READY, with the sources the new code loaded."""
    with socket.socket(fileno=os.dup(launch.control_fd)) as sock:
        sock.setblocking(True)
        sock.settimeout(5.0)
        sock.sendall(encode(Ready(os.getpid(), sources=sources)))


def report_failure(launch: WorkerLaunch, exc: BaseException) -> None:
    """A failure after run() claimed the launch but before the event loop runs."""
    _PendingLaunch(launch).report(format_user_exception(exc), exception_summary(exc))


def boot_failure(error: str, summary: str | None) -> BootFailed:
    """BOOT_FAILED: `error`, the traceback (or a sentence), and `summary`, the one line that
    says what failed (`SyntaxError: invalid syntax (service.py, line 3)`)."""
    lines = [line for line in error.splitlines() if line.strip()]
    return BootFailed(error, summary or (lines[-1] if lines else "failed to boot"))

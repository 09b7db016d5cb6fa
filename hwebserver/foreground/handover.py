"""Re-executing this process in place with its listening sockets (a reload without a
supervisor): the pid stays, and so do the sockets, so connections that arrive meanwhile wait in
the listen backlog instead of being refused.

Before exec() the listening sockets are made inheritable (everything else Python opened is
close-on-exec) and named in HWEBSERVER_REEXEC, with what must outlive the old image: the
generation number, the service's start, its reload counts and the request counts of earlier
generations (so /metrics never goes back). Importing hwebserver in the new image takes the
variable out of the environment (the application's own subprocesses must not see it), makes
the sockets close-on-exec again, and run() serves them (supervisor/listeners.py
`acquire_all` takes them by port name, as it takes systemd's).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, NoReturn

from ..worker.common.logs import flush_output

ENV_NAME = "HWEBSERVER_REEXEC"
NOTIFY_ENV = "NOTIFY_SOCKET"
# Held blocked across exec(), so a reload signal sent while the new image imports the script
# waits for its handler instead of killing the process; foreground/server.py unblocks it.
HELD_SIGNALS = frozenset({signal.SIGHUP})


@dataclass(frozen=True)
class Handover:
    listeners: tuple[tuple[str, int], ...]  # (port name, fd)
    generation: int = 0
    started: float = 0.0  # time.monotonic() of the service's first start (system-wide clock)
    reloads_succeeded: int = 0
    reloads_failed: int = 0
    retired: dict[str, Any] = field(default_factory=dict)  # statuses, buckets, duration_sum
    reason: str = ""  # what asked for the reload (SIGHUP, a changed file)
    reload_started: float = 0.0  # time.monotonic() when it was asked
    # The sources' modification times (ns) as the new image will load them: one saved before
    # its watch is in place is seen by comparing (foreground/server.py).
    stamps: dict[str, int] = field(default_factory=dict)
    reload_after: str = ""  # a reload asked during the re-execution: the new image does it

    def to_env(self) -> str:
        data = asdict(self)
        data["listeners"] = [list(pair) for pair in self.listeners]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_env(cls, text: str) -> Handover:
        data = json.loads(text)
        return cls(
            tuple((str(name), int(fd)) for name, fd in data["listeners"]),
            int(data.get("generation", 0)),
            float(data.get("started", 0.0)),
            int(data.get("reloads_succeeded", 0)),
            int(data.get("reloads_failed", 0)),
            dict(data.get("retired") or {}),
            str(data.get("reason", "")),
            float(data.get("reload_started", 0.0)),
            {str(path): int(stamp) for path, stamp in dict(data.get("stamps") or {}).items()},
            str(data.get("reload_after", "")),
        )


_taken: list[Handover] = []
_sockets_given: list[bool] = []


def take_from_environment() -> None:
    """Called once when hwebserver is imported."""
    text = os.environ.pop(ENV_NAME, None)
    if not text or _taken:
        return
    handover = Handover.from_env(text)
    for _name, fd in handover.listeners:
        try:
            os.set_inheritable(fd, False)  # not into the application's subprocesses
        except OSError:
            pass
    _taken.append(handover)
    previous_hook = sys.excepthook

    def say_what_ended(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        if not _sockets_given:  # run() was not reached: the old code is gone already
            sys.stderr.write(
                f"hwebserver: the code reloaded into pid {os.getpid()} failed before run() "
                "(it was changed again after its check); the service stops\n"
            )
        previous_hook(kind, value, tb)

    sys.excepthook = say_what_ended


def taken() -> Handover | None:
    """What the previous image of this process handed over, if it re-executed into this one."""
    return _taken[0] if _taken else None


def inherited_sockets() -> list[tuple[str, socket.socket]]:
    """(port name, listening socket) from the previous image; given out once."""
    handover = taken()
    if handover is None or _sockets_given:
        return []
    _sockets_given.append(True)
    found = []
    for name, fd in handover.listeners:
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        found.append((name, sock))
    return found


def exec_in_place(
    command: list[str],
    cwd: str,
    handover: Handover,
    notify_socket: str | None,
) -> NoReturn:
    """Replace this process's image with `command`, the listening sockets named in
    `handover` inherited. Never returns: on failure the OSError propagates."""
    env = dict(os.environ)
    env[ENV_NAME] = handover.to_env()
    if notify_socket:
        # Taken out of the environment at start (supervisor/systemd.py): the new image
        # tells systemd it is ready again.
        env[NOTIFY_ENV] = "@" + notify_socket[1:] if notify_socket[0] == "\0" else notify_socket
    for _name, fd in handover.listeners:
        os.set_inheritable(fd, True)
    flush_output()
    here = os.getcwd()
    os.chdir(cwd)  # where the service was started: its command line's paths are relative to it
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        os.execve(command[0], command, env)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        os.chdir(here)
        for _name, fd in handover.listeners:
            os.set_inheritable(fd, False)
        raise


def hold_signals() -> None:
    """Hold a reload signal until release_held_signals(), once the handler is in place."""
    signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)


def release_held_signals() -> None:
    """The new image's signal handlers are in place: a reload signal held since exec() is
    delivered now."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)

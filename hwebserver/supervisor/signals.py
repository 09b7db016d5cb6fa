"""Signals only get recorded: the interpreter writes each one's number into a pipe
(signal.set_wakeup_fd), the supervisor's main loop reads them back and does the work."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

HANDLED = (
    signal.SIGHUP,  # reload
    signal.SIGTERM,  # graceful shutdown
    signal.SIGINT,  # graceful shutdown; a second one stops at once
    signal.SIGQUIT,  # immediate shutdown
    signal.SIGTTIN,  # one worker more
    signal.SIGTTOU,  # one worker fewer
    signal.SIGUSR1,  # reopen log files
    signal.SIGCHLD,  # a child exited: reap it
)
# Not a signal number: another thread of this process asked the loop to look at its flags.
WAKE = 0


def _record(signum: int, frame: FrameType | None) -> None:
    """The number is already in the wakeup pipe; the main loop takes it from there."""


class SignalInbox:
    """The self-pipe the main loop selects on."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._previous: dict[int, Any] = {}
        self._previous_wakeup = -1
        self.installed = False

    def fileno(self) -> int:
        return self._read_fd

    def private_fds(self) -> list[int]:
        return [self._read_fd, self._write_fd]

    def install(self) -> None:
        for signum in HANDLED:
            self._previous[signum] = signal.signal(signum, _record)
        self._previous_wakeup = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        self.installed = True
        # A process re-executed in place for a reload holds HUP blocked until its handlers are
        # in place (foreground/handover.py): let it through now.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)

    def restore(self) -> None:
        if not self.installed:
            return
        signal.set_wakeup_fd(self._previous_wakeup)
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self.installed = False

    def read(self) -> list[int]:
        received: list[int] = []
        while True:
            try:
                data = os.read(self._read_fd, 4096)
            except BlockingIOError:
                return received
            if not data:
                return received
            received.extend(data)

    def wake(self) -> None:
        """Thread-safe."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._write_fd, bytes([WAKE]))

    def close(self) -> None:
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


@contextlib.contextmanager
def blocked() -> Iterator[None]:
    """Hold the handled signals back around fork(), so neither side runs the other's
    handlers in between; the child resets them before letting them through."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def reset_in_child() -> None:
    """A forked worker starts with default dispositions and no wakeup pipe."""
    signal.set_wakeup_fd(-1)
    for signum in HANDLED:
        signal.signal(signum, signal.SIG_DFL)

"""Killing a worker together with everything it started.

Each worker leads its own process group, so its descendants can be found even after the
worker itself died (they were reparented away); psutil adds those that left the group.
"""

from __future__ import annotations

import contextlib
import os
import signal

import psutil


def descendants(pid: int) -> list[int]:
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def kill_tree(pid: int, signum: int = signal.SIGKILL) -> None:
    """Signal the worker, its descendants and its process group. The caller reaps the worker;
    the kernel's init (or a subreaper) reaps the rest."""
    for target in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signum)
    kill_group(pid, signum)


def kill_group(pgid: int, signum: int = signal.SIGKILL) -> None:
    """Only while `pgid`'s leader is alive or a zombie (not yet reaped), so the number cannot
    have been reused by an unrelated group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def exit_status(pid: int) -> int | None:
    """The exit code (negative: the signal) of a child that ended, leaving it unreaped; None
    while it runs."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return 0
    if info is None or info.si_pid == 0:
        return None
    return _exit_code(info)


def wait_exit(pid: int) -> int:
    """Wait for the child to end (it was just sent SIGKILL), leaving it unreaped; its code."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:
        return 0
    return 0 if info is None else _exit_code(info)


def _exit_code(info: os.waitid_result) -> int:
    if info.si_code == os.CLD_EXITED:
        return int(info.si_status)
    return -int(info.si_status)


def reap(pid: int) -> int:
    """Wait for the child (it ended, or was just sent SIGKILL); its exit code as above."""
    try:
        _pid, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 0
    return os.waitstatus_to_exitcode(status)


# What a process gets from its own faults (a crash in C code, abort()), not from outside.
FAULT_SIGNALS = frozenset(
    {
        signal.SIGSEGV,
        signal.SIGBUS,
        signal.SIGILL,
        signal.SIGFPE,
        signal.SIGABRT,
        signal.SIGSYS,
        signal.SIGTRAP,
    }
)


def killed_from_outside(code: int) -> bool:
    """Ended by a signal it did not bring upon itself: the OOM killer, an operator's kill."""
    return code < 0 and -code not in FAULT_SIGNALS


def describe_exit(code: int) -> str:
    if code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = str(-code)
    return f"signal {name}"

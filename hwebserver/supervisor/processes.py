"""What the supervisor does to processes, behind one small seam: start a worker, signal it,
kill its tree, see whether it ended, reap it. The loop decides; this acts. A test gives the
Supervisor fake processes and drives its decisions with explicit times (no fork, no signal).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterable
from typing import Protocol

from ..api.internal import tempdir
from ..worker.common.config import Listener
from . import spawn, tree
from .spawn import Started


class Processes(Protocol):
    def fork(
        self, child_main: Callable[[socket.socket], int], close_in_child: Iterable[int]
    ) -> Started:
        """Generation 0: a child of this process running child_main(its control socket)."""
        ...

    def spawn(
        self,
        command: list[str],
        listeners: list[Listener],
        generation: int,
        limit: int | None,
        shares_fd: int | None = None,
    ) -> Started:
        """A reload's worker: the command line run again, inheriting the listeners (and the
        table of connections per worker, `shares_fd`)."""
        ...

    def signal(self, pid: int, signum: int) -> None:
        """To the worker alone; nothing if it is gone already."""
        ...

    def kill_tree(self, pid: int) -> None:
        """SIGKILL to the worker and everything it started."""
        ...

    def kill_group(self, pid: int) -> None:
        """SIGKILL to what is left of an ended (unreaped) worker's process group."""
        ...

    def exit_status(self, pid: int) -> int | None:
        """Its exit code (negative: the signal) once it ended, leaving it unreaped; else None."""
        ...

    def wait_exit(self, pid: int) -> int:
        """Wait until it ended (it was just killed); its exit code, leaving it unreaped."""
        ...

    def sweep_temp_dirs(self, pid: int) -> int:
        """Remove the request temp dirs an ended, unreaped worker left; how many."""
        ...

    def reap(self, pid: int) -> None: ...


class OsProcesses:
    """The real ones."""

    def fork(
        self, child_main: Callable[[socket.socket], int], close_in_child: Iterable[int]
    ) -> Started:
        return spawn.fork_worker(child_main, close_in_child)

    def spawn(
        self,
        command: list[str],
        listeners: list[Listener],
        generation: int,
        limit: int | None,
        shares_fd: int | None = None,
    ) -> Started:
        return spawn.spawn_worker(command, listeners, generation, limit, shares_fd)

    def signal(self, pid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    def kill_tree(self, pid: int) -> None:
        tree.kill_tree(pid)

    def kill_group(self, pid: int) -> None:
        tree.kill_group(pid)

    def exit_status(self, pid: int) -> int | None:
        return tree.exit_status(pid)

    def wait_exit(self, pid: int) -> int:
        return tree.wait_exit(pid)

    def sweep_temp_dirs(self, pid: int) -> int:
        return tempdir.sweep_dirs_of(pid)

    def reap(self, pid: int) -> None:
        tree.reap(pid)

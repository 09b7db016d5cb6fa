"""The per-request temporary directory that holds spooled bodies and uploaded files."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import BinaryIO, cast


class RequestTempDir:
    """Created on first use, removed whole by cleanup(): nothing a request spooled outlives it.

    Whoever opens a file in it registers the file's close() with `add_closer`, so cleanup()
    also releases the descriptors (a deleted file's space is only freed once none is open).
    """

    __slots__ = ("_closers", "_path")

    def __init__(self) -> None:
        self._path: str | None = None
        self._closers: list[Callable[[], object]] | None = None

    @property
    def path(self) -> str:
        if self._path is None:
            self._path = tempfile.mkdtemp(prefix=dir_prefix(os.getpid()))
        return self._path

    def new_file(self, stem: str, mode: str = "wb") -> tuple[BinaryIO, str]:
        """A new empty file in the directory, open for writing on the descriptor that created
        it, and its path. Not closed and opened again by name: that open would truncate it,
        and ext4 answers a truncated file's close() by writing all of it to disk, while the
        event loop waits (0.4 s for a 1 GiB upload; its auto_da_alloc rule)."""
        fd, path = tempfile.mkstemp(prefix=stem, dir=self.path)
        try:
            file = cast(BinaryIO, os.fdopen(fd, mode))
        except BaseException:
            os.close(fd)
            raise
        return file, path

    def add_closer(self, close: Callable[[], object]) -> None:
        if self._closers is None:
            self._closers = []
        self._closers.append(close)

    def cleanup(self) -> None:
        closers, self._closers = self._closers, None
        for close in closers or ():
            try:
                close()
            except OSError:
                pass  # closing is best effort: the directory goes regardless
        path, self._path = self._path, None
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)


# The creator's pid is in the name, so what a process killed outright (kill -9, OOM killer)
# left behind can be told apart and removed by the supervisor.
_PREFIX = "hwebserver-req-"


def dir_prefix(pid: int) -> str:
    return f"{_PREFIX}{pid}-"


def sweep_dirs_of(pid: int) -> int:
    """Remove the request directories process `pid` left; call it only once `pid` is dead
    and not yet reaped (a zombie's pid cannot be reused). Returns how many there were."""
    prefix = dir_prefix(pid)
    return _sweep(lambda name: name.startswith(prefix))


def sweep_dirs_of_dead_processes() -> int:
    """Remove the request directories of processes that no longer exist (e.g. a whole
    service killed with -9 before this start). A live pid's are left alone, whoever owns it."""
    return _sweep(_owner_is_dead)


def _owner_is_dead(name: str) -> bool:
    if not name.startswith(_PREFIX):
        return False
    pid_text = name[len(_PREFIX) :].partition("-")[0]
    # Anyone may name a directory in /tmp: only a plain decimal pid in range is considered.
    if not (pid_text.isascii() and pid_text.isdigit() and len(pid_text) <= 10):
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError, ValueError):  # e.g. EPERM: it exists, another user's
        return False
    return False


def _sweep(matches: Callable[[str], bool]) -> int:
    removed = 0
    try:
        with os.scandir(tempfile.gettempdir()) as entries:
            for entry in entries:
                if matches(entry.name) and entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                    removed += 1
    except OSError:
        pass  # an unreadable temp dir: nothing to sweep that we could reach
    return removed

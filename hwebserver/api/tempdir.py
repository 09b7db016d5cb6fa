"""The per-request temporary directory that holds spooled bodies and uploaded files."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable


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
            self._path = tempfile.mkdtemp(prefix="hwebserver-req-")
        return self._path

    def new_file_path(self, stem: str) -> str:
        fd, path = tempfile.mkstemp(prefix=stem, dir=self.path)
        os.close(fd)
        return path

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

"""The per-request temporary directory that holds spooled bodies and uploaded files."""

from __future__ import annotations

import os
import shutil
import tempfile


class RequestTempDir:
    """Created on first use, removed whole by cleanup(): nothing a request spooled outlives it."""

    __slots__ = ("_path",)

    def __init__(self) -> None:
        self._path: str | None = None

    @property
    def path(self) -> str:
        if self._path is None:
            self._path = tempfile.mkdtemp(prefix="hwebserver-req-")
        return self._path

    def new_file_path(self, stem: str) -> str:
        fd, path = tempfile.mkstemp(prefix=stem, dir=self.path)
        os.close(fd)
        return path

    def cleanup(self) -> None:
        path, self._path = self._path, None
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)

"""A request body: bytes in memory while small, a file in the request's temp dir once large."""

from __future__ import annotations

import io
import os
from typing import BinaryIO

from .tempdir import RequestTempDir


class RequestBody:
    """Accumulates body bytes; past `spool_threshold` they move to disk so memory stays bounded."""

    __slots__ = ("_chunks", "_file", "_memory_size", "_spool_threshold", "_tempdir", "size")

    def __init__(self, spool_threshold: int, tempdir: RequestTempDir) -> None:
        self._chunks: list[bytes] = []
        self._memory_size = 0
        self._file: BinaryIO | None = None
        self._spool_threshold = spool_threshold
        self._tempdir = tempdir
        self.size = 0

    def append(self, data: bytes) -> None:
        self.size += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._chunks.append(data)
        self._memory_size += len(data)
        if self._memory_size > self._spool_threshold:
            self._spool()

    def _spool(self) -> None:
        self._file = open(self._tempdir.new_file_path("body-"), "w+b")
        self._file.writelines(self._chunks)
        self._chunks = []
        self._memory_size = 0

    def finish(self) -> None:
        """The whole body has arrived."""

    @property
    def is_spooled(self) -> bool:
        return self._file is not None

    def getvalue(self) -> bytes:
        if self._file is None:
            if len(self._chunks) > 1:
                self._chunks = [b"".join(self._chunks)]
            return self._chunks[0] if self._chunks else b""
        self._file.flush()
        self._file.seek(0)
        data = self._file.read()
        self._file.seek(0, os.SEEK_END)
        return data

    def open_reader(self) -> BinaryIO:
        """A fresh binary reader over the whole body (used by form parsing and WSGI input)."""
        if self._file is None:
            return io.BytesIO(self.getvalue())
        self._file.flush()
        return open(self._file.name, "rb")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

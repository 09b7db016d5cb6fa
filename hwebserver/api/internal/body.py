"""A request body: bytes in memory while small, a file in the request's temp dir once large."""

from __future__ import annotations

import io
import os
from typing import BinaryIO, Protocol

from ..errors import OperationFailed
from .tempdir import RequestTempDir


class BodySource(Protocol):
    """What a Request reads its raw body from (a RequestBody, or the sink of a parsed form)."""

    size: int

    def getvalue(self) -> bytes: ...

    def open_reader(self) -> BinaryIO: ...

    def close(self) -> None: ...


class RequestBody:
    """Accumulates body bytes; past `spool_threshold` they move to disk so memory stays bounded."""

    __slots__ = (
        "_chunks",
        "_file",
        "_memory_size",
        "_path",
        "_spool_threshold",
        "_stem",
        "_tempdir",
        "size",
    )

    def __init__(self, spool_threshold: int, tempdir: RequestTempDir, stem: str = "body-") -> None:
        """`stem`: how the temp file's name begins (an uploaded file part's is "upload-")."""
        self._chunks: list[bytes] = []
        self._memory_size = 0
        self._file: BinaryIO | None = None
        self._path = ""
        self._spool_threshold = spool_threshold
        self._stem = stem
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
        self._file, self._path = self._tempdir.new_file(self._stem, "w+b")
        self._tempdir.add_closer(self._file.close)
        self._file.writelines(self._chunks)
        self._chunks = []
        self._memory_size = 0

    def finish(self) -> None:
        """The whole body has arrived."""

    @property
    def is_spooled(self) -> bool:
        return self._file is not None

    @property
    def path(self) -> str:
        """The temp file's path once spooled, else ""."""
        return self._path

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
        return open(self._path, "rb")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class BoundedBodyCopy:
    """The raw bytes of a body that is parsed while it streams in, kept only while small.

    A multipart upload is stored part by part (files in their own temporary files), so a
    second, raw copy of a large one would double its cost. Past `limit` bytes the copy is
    dropped and getvalue() says so instead of returning a body that is not there.
    """

    __slots__ = ("_chunks", "_dropped", "_limit", "size")

    def __init__(self, limit: int) -> None:
        self._chunks: list[bytes] = []
        self._limit = limit
        self._dropped = False
        self.size = 0

    def append(self, data: bytes) -> None:
        self.size += len(data)
        if self._dropped:
            return
        if self.size > self._limit:
            self._dropped = True
            self._chunks = []
            return
        self._chunks.append(data)

    def getvalue(self) -> bytes:
        if self._dropped:
            raise OperationFailed(
                f"the raw body of this multipart request ({self.size} bytes) is not kept: it was "
                f"parsed while it streamed in and only bodies of at most {self._limit} bytes are "
                "also kept raw; use POST() and files()"
            )
        if len(self._chunks) > 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0] if self._chunks else b""

    def open_reader(self) -> BinaryIO:
        return io.BytesIO(self.getvalue())

    def close(self) -> None:
        self._chunks = []

"""UploadedFile: one file part of a multipart request, in memory or in a temporary file."""

from __future__ import annotations

import io
import os
from typing import BinaryIO

from .internal.body import RequestBody
from .internal.tempdir import RequestTempDir

DEFAULT_CONTENT_TYPE = "application/octet-stream"


class UploadedFile:
    """An uploaded file. Small ones stay in memory; larger ones live in the request's temp dir.

    The temp dir (and so the file) is removed once the response has been sent: a handler that
    wants to keep an upload copies or moves it away before returning.
    """

    __slots__ = ("_content_type", "_data", "_name", "_path", "_reader", "_size", "_tempdir")

    def __init__(
        self,
        name: str,
        content_type: str = DEFAULT_CONTENT_TYPE,
        data: bytes | None = None,
        path: str | None = None,
        size: int | None = None,
        tempdir: RequestTempDir | None = None,
    ) -> None:
        self._name = name
        self._content_type = content_type
        self._data = data
        self._path = path
        self._tempdir = tempdir
        if size is None:
            size = len(data) if data is not None else (os.path.getsize(path) if path else 0)
        self._size = size
        self._reader: BinaryIO | None = None

    def __repr__(self) -> str:
        where = "memory" if self._path is None else self._path
        return f"<UploadedFile {self._name!r} {self._size} bytes in {where}>"

    def name(self) -> str:
        """The file name the client sent (not the form field's name)."""
        return self._name

    def size(self) -> int:
        """The file's size in bytes."""
        return self._size

    def contentType(self) -> str:
        """(extension) the type the part declared."""
        return self._content_type

    def isInMemory(self) -> bool:
        """True while the file is held in memory (at most `max_in_memory_file_upload_size`), False once
        it is in a temporary file."""
        return self._path is None

    def temporaryFilePath(self) -> str:
        """The path of the temporary file holding the upload, or `""` while it is in memory (see
        `saveToDisk()`). The file is removed once the response has been sent."""
        return self._path or ""

    def saveToDisk(self) -> None:
        """Move an in-memory upload into a temporary file; reading continues where it was."""
        if self._path is not None:
            return
        if self._tempdir is None:
            self._tempdir = RequestTempDir()
        file, path = self._tempdir.new_file("upload-")
        with file:
            file.write(self._data or b"")
        position = self._reader.tell() if self._reader is not None else 0
        self._path = path
        self._data = None
        self._reader = None
        if position:
            self._open().seek(position)

    def _open(self) -> BinaryIO:
        if self._reader is None:
            if self._path is not None:
                self._reader = open(self._path, "rb")
                if self._tempdir is not None:
                    self._tempdir.add_closer(self.close)
            else:
                self._reader = io.BytesIO(self._data or b"")
        return self._reader

    def read(self, max_size: int = -1) -> bytes:
        """The next `max_size` bytes (all the rest when negative), from where the last read ended."""
        if max_size is None or max_size < 0:
            max_size = -1
        return self._open().read(max_size)

    def close(self) -> None:
        """(extension) release the file handle read() opened."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()


class UploadWriter:
    """Receives one file part while it streams in: in memory up to `max_in_memory` bytes, then
    in a temporary file of the request's temp dir (the bytes held so far move there first), as
    a request body is kept (RequestBody)."""

    __slots__ = ("_body", "_content_type", "_name", "_tempdir")

    def __init__(
        self, name: str, content_type: str, tempdir: RequestTempDir, max_in_memory: int
    ) -> None:
        self._name = name
        self._content_type = content_type
        self._tempdir = tempdir
        self._body = RequestBody(max_in_memory, tempdir, "upload-")

    def write(self, data: bytes) -> None:
        self._body.append(data)

    def finish(self) -> UploadedFile:
        body = self._body
        if not body.is_spooled:
            data = body.getvalue()
            return UploadedFile(self._name, self._content_type, data=data, tempdir=self._tempdir)
        body.close()
        return UploadedFile(
            self._name, self._content_type, path=body.path, size=body.size,
            tempdir=self._tempdir,
        )  # fmt: skip

    def close(self) -> None:
        """Abandoned mid-part (bad body, client gone): the temp dir cleanup removes the file."""
        self._body.close()


WebServerUploadedFile = UploadedFile

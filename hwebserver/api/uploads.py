"""UploadedFile: one file part of a multipart request, in memory or in a temporary file."""

from __future__ import annotations

import io
import os
from typing import BinaryIO

from .tempdir import RequestTempDir


class UploadedFile:
    """An uploaded file. Small ones stay in memory; larger ones live in the request's temp dir."""

    __slots__ = ("_content_type", "_data", "_name", "_path", "_reader", "_size", "_tempdir")

    def __init__(
        self,
        name: str,
        content_type: str = "application/octet-stream",
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
        return self._name

    def size(self) -> int:
        return self._size

    def contentType(self) -> str:
        return self._content_type

    def isInMemory(self) -> bool:
        return self._path is None

    def temporaryFilePath(self) -> str:
        return self._path or ""

    def saveToDisk(self) -> None:
        if self._path is not None:
            return
        if self._tempdir is None:
            self._tempdir = RequestTempDir()
        path = self._tempdir.new_file_path("upload-")
        with open(path, "wb") as file:
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
            else:
                self._reader = io.BytesIO(self._data or b"")
        return self._reader

    def read(self, max_size: int = -1) -> bytes:
        return self._open().read(max_size if max_size is not None and max_size >= 0 else -1)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

"""Building multipart bodies by hand, including ones too large to hold: streamed from generators."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

BOUNDARY = "test-boundary-7MA4YWxkTrZu0gW"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def field_part(name: str, value: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode()
        + b"\r\n"
    )


def file_head(name: str, filename: str, content_type: str = "application/octet-stream") -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()


def file_part(name: str, filename: str, data: bytes, content_type: str = "text/plain") -> bytes:
    return file_head(name, filename, content_type) + data + b"\r\n"


def closing() -> bytes:
    return f"--{BOUNDARY}--\r\n".encode()


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + closing()


class LargeUpload:
    """One file part of `size` bytes, made on the fly: neither side ever holds all of it."""

    def __init__(self, size: int, chunk_size: int = 1 << 20, field: str = "file") -> None:
        self.size = size
        # Random bytes cannot contain the boundary line (it starts with CR LF '--').
        self.block = os.urandom(chunk_size).replace(b"\r\n--", b"\r\n++")
        self.head = file_head(field, "large.bin")
        self.tail = b"\r\n" + closing()
        self.sha256 = hashlib.sha256()

    @property
    def content_length(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def chunks(self) -> Iterator[bytes]:
        yield self.head
        left = self.size
        while left > 0:
            piece = self.block if left >= len(self.block) else self.block[:left]
            self.sha256.update(piece)
            left -= len(piece)
            yield piece
        yield self.tail

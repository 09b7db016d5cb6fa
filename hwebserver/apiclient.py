"""(extension) A client for the API functions of an hwebserver (or Houdini) /api endpoint.

    svc = apiclient.Service("http://127.0.0.1:8008/api")
    svc.geo.vector_length(1, 2, 3)            # -> 3.7416...
    svc.store.put(name="a", data=b"...")       # bytes travel as a file part
    svc.store.put(name="b", data=apiclient.File("big.bin"))   # streamed from disk
    with open("scene.bgeo", "rb") as f:
        svc.store.put(name="c", data=f)                        # an open file, streamed too

Calls go out in wire format 2 of the /api endpoint (api/functions/calls.py: a `json` form field holding [name, args, kwargs]),
which Houdini's server understands too; bytes, File and open binary file keyword values make
it multipart. An open file is sent from its current position; one whose size cannot be known
(a pipe) makes the request body chunked.
A JSON answer is decoded, a binary one returned as bytes; an error answer raises APIError.
Connections are kept alive and reused; a Service may be shared by threads (each call
borrows an idle connection or opens one). Standard library only.
"""

from __future__ import annotations

import http.client
import io
import json
import mimetypes
import os
import select
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

__all__ = ["APIError", "File", "Service"]

STREAM_CHUNK = 256 * 1024
# An idle connection the server may have closed meanwhile fails on first use; these are the
# ways it fails before any answer, when retrying once on a fresh connection is safe.
_STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)


class APIError(Exception):
    """The server answered with an error status; `message` is its {"error": ...} value."""

    def __init__(self, message: Any, status_code: int, body: bytes = b"") -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body

    def __str__(self) -> str:
        return f"{self.status_code}: {self.message}"


class File:
    """A keyword argument sent as a file part, read from `path` while it is sent."""

    def __init__(
        self, path: str | os.PathLike[str], content_type: str | None = None, name: str | None = None
    ) -> None:
        self.path = os.fspath(path)
        self.name = name if name is not None else os.path.basename(self.path)
        guessed = mimetypes.guess_type(self.name)[0]
        self.content_type = content_type or guessed or "application/octet-stream"

    def __repr__(self) -> str:
        return f"File({self.path!r})"


class _OpenFile:
    """An open binary file object given as an argument: sent from where it stands now."""

    __slots__ = ("content_type", "file", "name", "sent", "size", "start")

    def __init__(self, key: str, file: Any) -> None:
        if isinstance(file, io.TextIOBase):
            raise TypeError(f"argument {key!r}: open the file in binary mode ('rb')")
        self.file = file
        given = getattr(file, "name", None)
        self.name = os.path.basename(given) if isinstance(given, str) and given else key
        guessed = mimetypes.guess_type(self.name)[0]
        self.content_type = guessed or "application/octet-stream"
        self.start, self.size = _position_and_size(file)
        self.sent = False

    def chunks(self) -> Iterator[bytes]:
        """Its bytes; sent again from the same position when a call is retried."""
        if self.start is not None:
            self.file.seek(self.start)
        elif self.sent:
            raise OSError(f"{self.name}: a file that cannot seek cannot be sent twice")
        self.sent = True
        left = self.size
        while left is None or left > 0:
            data = self.file.read(STREAM_CHUNK if left is None else min(STREAM_CHUNK, left))
            if not data:
                if left is not None:
                    raise OSError(f"{self.name} shrank while it was being sent")
                return
            if not isinstance(data, bytes):
                raise TypeError(f"{self.name}: a file argument must be opened in binary mode")
            if left is not None:
                left -= len(data)
            yield data


def _position_and_size(file: Any) -> tuple[int | None, int | None]:
    """(start, bytes left) of a seekable file; (None, None) when it cannot seek (a pipe)."""
    try:
        if not file.seekable():
            return None, None
        start = file.tell()
        end = file.seek(0, io.SEEK_END)
        file.seek(start)
    except (OSError, AttributeError, ValueError):
        return None, None
    return start, max(0, end - start)


def _is_file_object(value: Any) -> bool:
    return callable(getattr(value, "read", None)) and not isinstance(value, File)


class _Function:
    """`svc.geo.vector_length`: attribute access extends the dotted name, a call sends it."""

    __slots__ = ("_name", "_service")

    def __init__(self, service: Service, name: str) -> None:
        self._service = service
        self._name = name

    def __getattr__(self, attribute: str) -> _Function:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return _Function(self._service, f"{self._name}.{attribute}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._service.call(self._name, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<API function {self._name}>"


class Service:
    """The API functions behind `url` (e.g. "http://host:8008/api")."""

    def __init__(
        self,
        url: str,
        timeout: float | None = 60.0,
        headers: dict[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_idle_connections: int = 8,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL, not {url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = (parts.path or "/api") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._headers = dict(headers or {})
        self._idle: list[http.client.HTTPConnection] = []
        self._max_idle = max_idle_connections
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> _Function:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Function(self, name)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the idle connections (calls in progress close theirs when they end)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # -- one call -------------------------------------------------------------------------
    def call(self, function_name: str, *args: Any, **kwargs: Any) -> Any:
        """Call `function_name` (dotted for namespaces) with these arguments."""
        body, headers = _encode_call(function_name, args, kwargs)
        headers.update(self._headers)
        status, content_type, data = self._exchange(body, headers)
        return _decode_answer(status, content_type, data)

    def _exchange(
        self, body: Callable[[], Iterator[bytes]] | bytes, headers: dict[str, str]
    ) -> tuple[int, str, bytes]:
        connection, reused = self._checkout()
        try:
            try:
                answer = self._send(connection, body, headers)
            except _STALE_CONNECTION_ERRORS:
                connection.close()
                if not reused:
                    raise
                connection, reused = self._connect(), False
                answer = self._send(connection, body, headers)
        except BaseException:
            connection.close()
            raise
        response, data = answer
        if response.will_close:
            connection.close()
        else:
            self._checkin(connection)
        return response.status, response.getheader("Content-Type", ""), data

    def _send(
        self,
        connection: http.client.HTTPConnection,
        body: Callable[[], Iterator[bytes]] | bytes,
        headers: dict[str, str],
    ) -> tuple[http.client.HTTPResponse, bytes]:
        payload: Any = body if isinstance(body, bytes) else body()
        connection.request("POST", self._path, body=payload, headers=headers)
        response = connection.getresponse()
        return response, response.read()

    # -- the connection pool --------------------------------------------------------------
    def _checkout(self) -> tuple[http.client.HTTPConnection, bool]:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._connect(), False
            if not _was_closed_by_peer(connection):
                return connection, True
            connection.close()

    def _checkin(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(connection)
                return
        connection.close()

    def _connect(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self._https:
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=self._ssl_context
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        connection.connect()
        # Headers and a streamed body go out in separate writes: without NODELAY, Nagle's
        # algorithm and delayed ACKs would add tens of milliseconds to such calls.
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection


def _was_closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """An idle keep-alive socket that is readable has been closed (or broken) by the server."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


# -- the wire format -------------------------------------------------------------------------
def _encode_call(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Callable[[], Iterator[bytes]] | bytes, dict[str, str]]:
    for value in args:
        if isinstance(value, (bytes, bytearray, memoryview, File)) or _is_file_object(value):
            raise TypeError("binary data and files travel as keyword arguments only")
    files: dict[str, Any] = {}
    for key, value in kwargs.items():
        if _is_file_object(value):
            files[key] = _OpenFile(key, value)
        elif isinstance(value, (bytes, bytearray, memoryview, File)):
            files[key] = value
    plain = {k: v for k, v in kwargs.items() if k not in files}
    call = json.dumps([name, list(args), plain])
    headers = {"Accept": "application/json"}
    if not files:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return urlencode({"json": call}).encode("ascii"), headers
    boundary = uuid.uuid4().hex
    headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    parts = _multipart_parts(boundary, call, files)
    sizes = [size for _, size in parts]
    if None not in sizes:  # otherwise http.client sends the body chunked
        headers["Content-Length"] = str(sum(size for size in sizes if size is not None))
    return (lambda: _stream_parts(parts)), headers


def _quote(text: str) -> str:
    """A name or file name inside a quoted Content-Disposition parameter (HTML's escaping)."""
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


Part = tuple["bytes | File | _OpenFile", "int | None"]


def _multipart_parts(boundary: str, call: str, files: dict[str, Any]) -> list[Part]:
    """The body as pieces (bytes, or a File streamed later) with their sizes."""
    pieces: list[Part] = []

    def add(data: bytes) -> None:
        pieces.append((data, len(data)))

    add(
        f'--{boundary}\r\nContent-Disposition: form-data; name="json"\r\n'
        "Content-Type: application/json\r\n\r\n".encode()
        + call.encode("utf-8")
        + b"\r\n"
    )
    for key, value in files.items():
        if isinstance(value, (File, _OpenFile)):
            filename, content_type = value.name, value.content_type
        else:
            filename, content_type = key, "application/octet-stream"
        add(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(key)}"; '
            f'filename="{_quote(filename)}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
        )
        if isinstance(value, File):
            pieces.append((value, os.path.getsize(value.path)))
        elif isinstance(value, _OpenFile):
            pieces.append((value, value.size))
        else:
            add(bytes(value))
        add(b"\r\n")
    add(f"--{boundary}--\r\n".encode())
    return pieces


def _stream_parts(parts: list[Part]) -> Iterator[bytes]:
    for piece, size in parts:
        if isinstance(piece, bytes):
            yield piece
            continue
        if isinstance(piece, _OpenFile):
            yield from piece.chunks()
            continue
        assert size is not None
        with open(piece.path, "rb") as file:
            left = size
            while left > 0:
                data = file.read(min(STREAM_CHUNK, left))
                if not data:
                    raise OSError(f"{piece.path} shrank while it was being sent")
                left -= len(data)
                yield data


def _decode_answer(status: int, content_type: str, data: bytes) -> Any:
    kind = content_type.split(";", 1)[0].strip().lower()
    if status >= 400:
        message: Any = data.decode("utf-8", "replace")
        if kind == "application/json":
            try:
                decoded = json.loads(data)
                message = decoded.get("error", decoded) if isinstance(decoded, dict) else decoded
            except ValueError:
                pass
        raise APIError(message, status, data)
    if kind == "application/json":
        return json.loads(data)
    if kind.startswith("text/"):
        return data.decode(_charset(content_type), "replace")
    return data


def _charset(content_type: str) -> str:
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"') or "utf-8"
    return "utf-8"

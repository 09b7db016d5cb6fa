"""Responses that are not one buffer: files (zero-copy sendfile) and streamed iterables."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ...api.helpers import notFoundResponse
from ...api.request import Request
from ...api.response import BODILESS_STATUSES, Response
from .error_responses import error_response
from .response_head import (
    CHUNKED,
    LAST_CHUNK,
    build_head,
    chunk,
    connection_header,
    content_length_line,
)

if TYPE_CHECKING:
    from .seams import Connection

FILE_CHUNK = 256 * 1024
_END = object()


async def send_streamed(
    protocol: Connection, request: Request, response: Response, keep_alive: bool
) -> None:
    """Send a file or stream response; account for it exactly once, however it ends."""
    finished = False
    if response.status_code < 200:
        keep_alive = False  # no final answer follows a 1xx (see HttpProtocol.respond)
    try:
        if response.file_path is not None:
            result = await _send_file(protocol, request, response, keep_alive)
        else:
            result = await _send_stream(protocol, request, response, keep_alive)
        if result is None:  # the file vanished: answered 404 through the normal path
            finished = True
            return
        status, size, keep_alive = result
        finished = True
        protocol.finish(request, status, size, keep_alive)
    except (asyncio.CancelledError, ConnectionError):
        pass
    except Exception as exc:
        protocol.state.log.error(
            "streaming the response to %s %s failed",
            request.http_method,
            request.url_path,
            exc_info=exc,
            port_name=request.conn.port_name,
        )
        protocol.transport.abort()  # the head is out: a cut connection is the only honest signal
    finally:
        if isinstance(response, FileRangeResponse):
            response.file.close()  # already closed unless sending failed before it started
        if response.deletes_file and response.file_path is not None:
            _unlink(response.file_path)
        if not finished:
            protocol.abandon(request)


def release(request: Request, response: Any) -> None:
    """Free what a response holds if it will never be sent (the client left first), or after
    it was: idempotent, so it also runs when send_streamed's own cleanup already did."""
    if isinstance(response, Response):
        if response.deletes_file and response.file_path is not None:
            _unlink(response.file_path)
        if isinstance(response, FileRangeResponse):
            response.file.close()
    request.cleanup()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class FileRangeResponse(Response):
    """A file the server already opened and checked (static files): `count` bytes from `offset`.

    The protocol sends it like any file response; holding the open file means what was
    checked is what is sent, even if the path changes meanwhile.
    """

    __slots__ = ("count", "file", "offset")

    def __init__(
        self, path: str, file: Any, offset: int, count: int, status: int, content_type: str
    ) -> None:
        super().__init__(path, status=status, content_type=content_type, is_file_name=True)
        self.file = file
        self.offset = offset
        self.count = count


async def _send_file(
    protocol: Connection, request: Request, response: Response, keep_alive: bool
) -> tuple[int, int, bool] | None:
    if isinstance(response, FileRangeResponse):
        file, offset, count = response.file, response.offset, response.count
    else:
        assert response.file_path is not None
        try:
            file, count = open_regular_file(response.file_path)
        except (OSError, ValueError) as exc:
            _refuse_file(protocol, request, response, exc)
            return None
        offset = 0
    bodiless = response.status_code in BODILESS_STATUSES  # 204/304: neither a length nor a body
    with file:
        head = build_head(
            response,
            b"" if bodiless else content_length_line(count),
            connection_header(keep_alive, request.http_version),
            protocol.state.date_server,
        )
        if request.http_method != "HEAD" and count and not bodiless:
            await send_file_range(protocol, file, offset, count, head)
        else:
            protocol.transport.write(head)
    return response.status_code, 0 if bodiless else count, keep_alive


class NotRegularFile(OSError):
    """A path that names something other than a regular file (a FIFO, a device, a
    directory, a socket): never sent, as reading it could block or never end."""


# Non-blocking: opening a FIFO does not wait for a writer (the loop would freeze with it).
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


# A path as os.open() takes it: an ASGI app's pathsend may give a pathlib.Path or bytes.
FilePath = str | bytes | os.PathLike[str] | os.PathLike[bytes]


def open_regular_file(path: FilePath) -> tuple[Any, int]:
    """(the open file, its size), without blocking the loop. FileNotFoundError or
    NotADirectoryError when it is missing, ValueError for a path that cannot name a file (a
    NUL in it), NotRegularFile for anything but a regular file, OSError otherwise."""
    file, info = open_regular(path)
    return file, info.st_size


def open_regular(path: FilePath, follow_symlinks: bool = True) -> tuple[Any, os.stat_result]:
    """(the open file, its stat), raising as open_regular_file() does; with follow_symlinks
    False, a symbolic link as the last component is refused (OSError, ELOOP): how the static
    directories open what a request names (files/static.py)."""
    fd = os.open(path, _OPEN_FLAGS if follow_symlinks else _OPEN_FLAGS | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(f"{os.fsdecode(path)!r} is not a regular file ({_kind(info)})")
        # Unbuffered: sendfile reads the fd itself.
        file = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    return file, info


def _kind(info: os.stat_result) -> str:
    mode = info.st_mode
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a file"


def _refuse_file(
    protocol: Connection, request: Request, response: Response, error: BaseException
) -> None:
    """A fileResponse whose file cannot be sent is answered through the normal path, and the
    connection goes on: 404 for a file missing (as documented) or a path that cannot name one
    (a NUL, as static files answer it), 500 for anything else (a FIFO, a directory, a file
    the worker may not read: the handler's or the deployment's fault), logged."""
    if response.deletes_file and response.file_path is not None:
        _unlink(response.file_path)
    response.deletes_file = False
    protocol.send_task = None
    log = protocol.state.log
    what = f"fileResponse for {request.http_method} {request.url_path}"
    if isinstance(error, (FileNotFoundError, NotADirectoryError)):
        protocol.respond(request, notFoundResponse(request))
    elif isinstance(error, ValueError):
        log.warning("%s: invalid file path (%s): answered 404", what, error)
        protocol.respond(request, notFoundResponse(request))
    else:
        log.error("%s: cannot send the file: %s", what, error, port_name=request.conn.port_name)
        protocol.respond(request, error_response(request, error, protocol.state.debug))


async def send_file_range(
    protocol: Connection, file: Any, offset: int, count: int, head: bytes = b""
) -> None:
    """`head`, then the file's bytes: zero-copy on plain TCP; read-and-write over TLS, where
    the kernel cannot encrypt."""
    transport = protocol.transport
    sock = transport.get_extra_info("socket")
    if transport.get_extra_info("sslcontext") is not None or sock is None:
        if head:
            transport.write(head)
        await _copy_file(protocol, file, offset, count)
        return
    # Until the first await the transport's fd is ours to write (nothing can close it in
    # between); across an await only a duplicate is safe: the transport may close its fd and
    # the number be reused. A duplicate is also what the loop can watch beside the transport.
    out = sock.fileno()
    watched = -1
    corked = _cork(sock, True)
    try:
        head = _write_head_now(transport, out, head)
        if head or transport.get_write_buffer_size():
            if head:
                transport.write(head)
            out = watched = os.dup(out)
            await _wait_transport_flushed(protocol, watched)
        end = offset + count
        while offset < end:
            try:
                sent = os.sendfile(out, file.fileno(), offset, min(end - offset, 1 << 30))
            except BlockingIOError:
                if watched < 0:
                    out = watched = os.dup(out)
                await protocol.writable(watched)  # SEND_TIMEOUT counts while it waits
                continue
            if sent == 0:
                raise ConnectionError("file shrank or connection closed during sendfile")
            offset += sent
    finally:
        if corked and not protocol.closed:
            _cork(sock, False)
        if watched >= 0:
            os.close(watched)


def _cork(sock: Any, on: bool) -> bool:
    """TCP_CORK: the head and the file's first bytes leave in full segments, not a small
    packet ahead of the rest (what nginx's tcp_nopush does)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1 if on else 0)
    except (OSError, AttributeError):
        return False
    return True


def _write_head_now(transport: Any, fd: int, head: bytes) -> bytes:
    """Write the head straight to the socket when the transport holds nothing to send before
    it (so no flush has to be awaited); what did not fit is returned."""
    if not head or transport.get_write_buffer_size():
        return head
    try:
        sent = os.write(fd, head)
    except (BlockingIOError, InterruptedError):
        return head
    return head[sent:]


async def _wait_transport_flushed(protocol: Connection, fd: int) -> None:
    while protocol.transport.get_write_buffer_size():
        if protocol.closed:
            raise ConnectionError("client disconnected")
        await protocol.writable(fd)
        await asyncio.sleep(0)  # let the transport flush its own buffer first


async def _copy_file(protocol: Connection, file: Any, offset: int, count: int) -> None:
    file.seek(offset)
    while count > 0:
        data = file.read(min(FILE_CHUNK, count))
        if not data:
            raise ConnectionError("file shrank while it was being sent")
        count -= len(data)
        protocol.transport.write(data)
        await protocol.drain()


async def _send_stream(
    protocol: Connection, request: Request, response: Response, keep_alive: bool
) -> tuple[int, int, bool]:
    """Chunked encoding for HTTP/1.1; for HTTP/1.0 the body ends when the connection closes.

    HEAD gets the head a GET would get and no body; 204/304 get neither framing nor a body.
    """
    bodiless = response.status_code in BODILESS_STATUSES
    chunked = request.http_version == "1.1" and not bodiless
    if not chunked and not bodiless:
        keep_alive = False
    head = build_head(
        response,
        CHUNKED if chunked else b"",
        connection_header(keep_alive, request.http_version),
        protocol.state.date_server,
    )
    transport = protocol.transport
    transport.write(head)
    size = 0
    try:
        if request.http_method != "HEAD" and not bodiless:
            stream = response.stream
            assert stream is not None  # neither a file nor in memory (see respond)
            # An async iterable is read as it is, in this task: a generator of ours around it
            # would add a frame and an awaitable to every chunk.
            items = stream if isinstance(stream, AsyncIterable) else _chunks(protocol, stream)
            async for item in items:
                data = _as_bytes(item)
                if data:
                    size += len(data)
                    transport.write(chunk(data) if chunked else data)
                    await protocol.drain()
    finally:
        await _close_stream(response.stream)
    if chunked and request.http_method != "HEAD":
        transport.write(LAST_CHUNK)
    return response.status_code, size, keep_alive


async def _chunks(protocol: Connection, stream: Iterable[Any]) -> AsyncIterator[Any]:
    """The items of a sync iterable; a generator's next() runs in the handler pool."""
    if isinstance(stream, (list, tuple)):
        for item in stream:
            yield item
        return
    iterator: Iterator[Any] = iter(stream)
    threads = protocol.state.threads
    loop = protocol.loop
    while True:
        # One future per next(), awaited as it is: an asyncio.shield() here would add a
        # future, two callbacks and a turn of the loop to every chunk of the stream.
        call = _NextCall(loop.create_future())
        threads.call(_next_or_end, iterator, _next_returned, call)
        try:
            item = await call.future
        except asyncio.CancelledError:
            # The client left while next() runs in a thread: let it return before the
            # generator is closed, or close() fails with "generator already executing".
            if not call.returned_on_thread:
                call.thread_done = loop.create_future()
                await asyncio.wait([call.thread_done])
            raise
        if item is _END:
            return
        yield item


class _NextCall:
    """One next() of a plain generator on a handler thread: its result for the stream's task
    (`future`, cancelled if the task is), and whether the thread is done with the generator."""

    __slots__ = ("future", "returned_on_thread", "thread_done")

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self.future = future
        self.returned_on_thread = False
        self.thread_done: asyncio.Future[None] | None = None  # awaited once cancelled


def _next_returned(call: _NextCall, ok: bool, value: Any) -> None:
    """On the loop, once next() returned or raised on its thread."""
    call.returned_on_thread = True
    if call.thread_done is not None and not call.thread_done.done():
        call.thread_done.set_result(None)
    future = call.future
    if future.done():  # cancelled meanwhile: the stream's task is already on its way out
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _next_or_end(iterator: Iterator[Any]) -> Any:
    return next(iterator, _END)


def _as_bytes(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, (bytearray, memoryview)):
        return bytes(item)
    raise TypeError(f"a streamed chunk must be bytes or str, not {type(item).__name__}")


async def _close_stream(stream: Any) -> None:
    """close() is always called (PEP 3333 relies on it), aclose() for async generators."""
    aclose = getattr(stream, "aclose", None)
    if callable(aclose):
        await aclose()
        return
    close = getattr(stream, "close", None)
    if callable(close):
        close()

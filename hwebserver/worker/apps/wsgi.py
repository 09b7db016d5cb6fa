"""PEP 3333: running a mounted WSGI application for one request.

The whole exchange runs in one handler-pool thread, like a plain handler (the app may block
on wsgi.input, which the event loop feeds: see streaming_body.py). What the app writes goes
to the loop block by block, as PEP 3333 wants (no block is held back), through the
exchange's outbox, in order, which the end of the exchange empties before it writes the end
of the answer; the thread waits for the transport to drain when the client reads slower than
the app writes. A wsgi.file_wrapper over a real file that is the whole answer goes out with
sendfile. close() of the app's iterable is called whatever happens. A bodiless request
answered with a plain one-block list (nothing of the app runs after that block) is written
with the end of the exchange instead, one loop callback for both.

What is the same from one request to the next is made once and found again by value, in
bounded memos: the environ's per-connection part, a target's SCRIPT_NAME/PATH_INFO/
QUERY_STRING, the checked and encoded form of a (status, headers), and the head framed from
it. Each answer is still the one its request and its start_response() call make.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import logging
import os
import re
import stat
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from ...api.internal.connection import ConnectionInfo
from ...api.request import Request
from ...api.routing import Route
from ..http.request_head import normalized_path
from ..http.response_streams import send_file_range
from ..http.streaming_body import ClientDisconnected, StreamingBody
from .response_framing import (
    LENGTH,
    NO_BODY,
    Framing,
    FramingError,
    app_error_response,
    app_head,
    app_name,
    check_final_status,
    policy_lines_for,
)

if TYPE_CHECKING:
    from ..http.gate import AdmittedRoute
    from ..http.seams import Connection

errors_logger = logging.getLogger("hwebserver.wsgi")

# The writing thread checks with the loop (and waits for a drained transport) at least this
# often, so a fast app cannot pile up unbounded data in the loop's queue.
SYNC_BYTES = 256 * 1024
WAIT_SLICE = 1.0


def start(protocol: Connection, route: AdmittedRoute, request: Request) -> None:
    body: Any = request.body_source
    exchange = WsgiExchange(
        protocol, route, request, body if body.__class__ is StreamingBody else None
    )
    protocol.exchange = exchange
    if exchange.body is not None:
        exchange.body.started = True
    protocol.state.threads.call(WsgiExchange.run, exchange, WsgiExchange.done, exchange)


# -- the environ ------------------------------------------------------------------------------
class FileWrapper:
    """wsgi.file_wrapper: iterates a file in blocks; served with sendfile when it can be."""

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()

    def __iter__(self) -> Any:
        read = self.filelike.read
        while True:
            data = read(self.blksize)
            if not data:
                return
            yield data


class ErrorStream:
    """wsgi.errors: what the app writes becomes server log lines, one per line written."""

    # The line begun and not yet ended (logged by flush()). A class default, no __init__:
    # one stream is made per request, and most are never written to.
    partial = ""

    def write(self, text: str) -> int:
        lines = (self.partial + str(text)).split("\n")
        self.partial = lines.pop()
        for line in lines:
            if line.strip():
                errors_logger.error("wsgi.errors: %s", line)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self.partial.strip():
            errors_logger.error("wsgi.errors: %s", self.partial)
        self.partial = ""


class WsgiInput:
    """wsgi.input over a streamed body: reads block until the bytes have arrived."""

    def __init__(self, body: StreamingBody) -> None:
        self._body = body
        self._buffer = bytearray()
        self._eof = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._body.read()
        if not data:
            self._eof = True
            return False
        self._buffer += data
        return True

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(len(self._buffer))
        while len(self._buffer) < size and self._fill():
            pass
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                count = end + 1
                break
            if 0 <= limit <= len(self._buffer) or not self._fill():
                count = len(self._buffer)
                break
        if 0 <= limit < count:
            count = limit
        return self._take(count)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines = []
        total = 0
        for line in self:
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Any:
        while True:
            line = self.readline()
            if not line:
                return
            yield line


# Header name -> environ key ("" for a name refused), for the few names clients send again
# and again; bounded, as a client may send any names at all.
_HEADER_KEYS: dict[bytes, str] = {}
_HEADER_KEYS_SIZE = 512


def _new_header_key(name: bytes) -> str:
    key = _environ_key(name)
    if len(_HEADER_KEYS) < _HEADER_KEYS_SIZE:
        _HEADER_KEYS[name] = key
    return key


def _environ_key(name: bytes) -> str:
    key = name.decode("latin-1").upper()
    if "_" in key:
        return ""  # X_User would shadow X-User: refuse the ambiguity (as most servers do)
    key = key.replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return key
    return "HTTP_" + key


# (mount path, request target) -> SCRIPT_NAME, PATH_INFO, QUERY_STRING: a function of the
# target alone (url_path and query are made from it), and clients ask for the same few.
TargetParts = tuple[str, str, str]
_TARGET_PARTS: dict[tuple[str, bytes], TargetParts] = {}
_TARGET_PARTS_SIZE = 1024


def _target_parts(request: Request, mount_path: str) -> TargetParts:
    prefix = mount_path.rstrip("/")
    raw_path = request.target.partition(b"?")[0].partition(b"#")[0]
    if raw_path.startswith(b"/"):
        # Most paths have no escape: unquoting them would only copy them.
        escaped = b"%" in raw_path
        path = (unquote_to_bytes(raw_path) if escaped else raw_path).decode("latin-1")
        # What the router matched (http/request_head.py): dot segments, repeated slashes.
        path = normalized_path(path)
    else:  # absolute-form or '*': the decoded path is all we have
        path = request.url_path.encode("utf-8").decode("latin-1")
    script_name = prefix.encode("utf-8").decode("latin-1")
    path_info = path[len(script_name) :] if path.startswith(script_name) else path
    parts = (script_name, path_info, request.query.decode("latin-1"))
    if len(_TARGET_PARTS) >= _TARGET_PARTS_SIZE:
        _TARGET_PARTS.clear()
    _TARGET_PARTS[(mount_path, request.target)] = parts
    return parts


# The environ of a connection's requests before the request's own keys are set: its address,
# and what is the same for every request. Copied per request (one C call, and no resizing:
# the copy has the room the template has), not rebuilt. Keyed by the connection's info;
# bounded, as connections come and go (full, it starts over).
_CONNECTION_ENVIRONS: dict[ConnectionInfo, dict[str, Any]] = {}
_CONNECTION_ENVIRONS_SIZE = 256


def _connection_environ(conn: ConnectionInfo) -> dict[str, Any]:
    environ: dict[str, Any] = {
        # The request's own, set by build_environ (here to keep the keys in this order).
        "REQUEST_METHOD": "",
        "SCRIPT_NAME": "",
        "PATH_INFO": "",
        "QUERY_STRING": "",
        "SERVER_NAME": conn.server[0],
        "SERVER_PORT": str(conn.server[1]),
        "SERVER_PROTOCOL": "",
        "REMOTE_ADDR": conn.client[0],
        "REMOTE_PORT": str(conn.client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "",
        "wsgi.input": None,
        "wsgi.input_terminated": True,
        "wsgi.errors": None,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
    }
    if len(_CONNECTION_ENVIRONS) >= _CONNECTION_ENVIRONS_SIZE:
        _CONNECTION_ENVIRONS.clear()
    _CONNECTION_ENVIRONS[conn] = environ
    return environ


def build_environ(request: Request, mount_path: str, body: StreamingBody | None) -> dict[str, Any]:
    """The environ of a request to the app mounted at `mount_path` (its SCRIPT_NAME)."""
    conn = request.conn
    template = _CONNECTION_ENVIRONS.get(conn)
    if template is None:
        template = _connection_environ(conn)
    parts = _TARGET_PARTS.get((mount_path, request.target))
    if parts is None:
        parts = _target_parts(request, mount_path)
    environ = template.copy()
    environ["REQUEST_METHOD"] = request.http_method
    environ["SCRIPT_NAME"], environ["PATH_INFO"], environ["QUERY_STRING"] = parts
    version = request.http_version
    environ["SERVER_PROTOCOL"] = "HTTP/1.1" if version == "1.1" else "HTTP/" + version
    environ["wsgi.url_scheme"] = request.scheme()  # per request: X-Forwarded-Proto may say
    environ["wsgi.input"] = io.BytesIO() if body is None else WsgiInput(body)
    environ["wsgi.errors"] = ErrorStream()
    for name, value in request.raw_headers:
        key = _HEADER_KEYS.get(name)
        if key is None:
            key = _new_header_key(name)
        if not key:
            continue
        text = value.decode("latin-1")
        if key in environ:
            text = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + text
        environ[key] = text
    return environ


_STATUS_CODE = re.compile("[0-9]{3}(?: |$)")


def _parse_status(status: str) -> int:
    """'200 OK' -> 200: three ASCII digits, then a space and a reason (PEP 3333)."""
    if not isinstance(status, str) or not _STATUS_CODE.match(status):
        raise ValueError(f"invalid WSGI status {status!r}")
    return int(status[:3])


def _encode_headers(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    encoded = []
    for name, value in headers:
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"WSGI header names and values must be str: {(name, value)!r}")
        encoded.append((name.encode("latin-1"), value.encode("latin-1")))
    return encoded


# A head as Framing.head() made it, and the framing it chose: (head, mode, remaining, keep_alive).
HeadMemo = tuple[bytes, int, int, bool]
# What else a head depends on: method, version, keep-alive, Date/Server, body length, the
# port policy's lines.
HeadKey = tuple[str, str, bool, bytes, int, tuple[tuple[bytes, bytes], ...]]


class Start:
    """What start_response() made of a status and headers, checked and encoded; and the heads
    framed from them, by what else a head depends on."""

    __slots__ = ("headers", "heads", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.headers = headers  # shared by the requests answered alike: never changed
        self.heads: dict[HeadKey, HeadMemo] = {}


# Apps answer the same few statuses and header lists again and again (the same Content-Type,
# the same Content-Length for the same page): checking, encoding and framing them is done once
# per distinct (status, headers), found again by value. Bounded, as the values may vary freely
# (a Content-Length, a cookie): full, it starts over.
_STARTS: dict[tuple[str, tuple[tuple[str, str], ...]], Start] = {}
_STARTS_SIZE = 256
_HEADS_SIZE = 8  # per Start: the Date line changes every second


def _start_of(status: str, headers: list[tuple[str, str]]) -> Start:
    """The checked form of a start_response() call; ValueError/TypeError as PEP 3333 asks."""
    key = None
    if headers.__class__ is list:  # not an iterator, which making a key would consume
        try:
            key = (status, tuple(headers))
            start = _STARTS.get(key)
        except TypeError:  # an unhashable header (a list pair): checked below, the slow way
            key = None
        else:
            # Equal values of other types than str (the checks below refuse them) never get
            # here: they could only match a key made of str, which they do not equal.
            if start is not None:
                return start
    start = Start(_parse_status(status), _encode_headers(headers))
    if key is not None and _plain_str(status, headers):
        if len(_STARTS) >= _STARTS_SIZE:
            _STARTS.clear()
        _STARTS[key] = start
    return start


def _plain_str(status: str, headers: list[tuple[str, str]]) -> bool:
    """Only plain str are memoised: a str subclass equals the plain str of its content, but its
    methods (encode()) may make something else of it."""
    return status.__class__ is str and all(
        name.__class__ is str and value.__class__ is str for name, value in headers
    )


# -- the exchange -----------------------------------------------------------------------------
class WsgiExchange:
    """One request through the app: started on the loop (start()), run() in a pool thread,
    ended back on the loop (done())."""

    __slots__ = (
        "body",
        "disconnected",
        "framing",
        "head_sent",
        "on_wire",
        "outbox",
        "pending",
        "protocol",
        "request",
        "route",
        "unsynced",
    )

    def __init__(
        self, protocol: Connection, route: Route, request: Request, body: StreamingBody | None
    ) -> None:
        self.protocol = protocol
        self.route = route
        self.request = request
        self.body = body
        self.framing = Framing(
            protocol.active_keep_alive,
            () if protocol.policy is None else policy_lines_for(protocol.policy, request),
        )
        self.pending: Start | None = None
        self.head_sent = False
        self.on_wire = False  # a byte of the answer reached the transport (set on the loop)
        # What the thread framed, in order, until the loop writes it (_flush). A queue, not a
        # callback per block: the loop may run done() before the callbacks the thread
        # scheduled ahead of it (the threads' results come back in batches), and done()
        # writes the end of the answer; it empties the queue first.
        self.outbox: deque[bytes] = deque()
        self.unsynced = 0
        self.disconnected = False

    def connection_lost(self) -> None:
        self.disconnected = True

    # -- in the handler thread ----------------------------------------------------------------
    def run(self) -> bytes:
        """The app's part of the exchange. Returns what is left to write: b"", or the whole
        answer of a bodiless request answered with a one-block list, which done() writes with
        the end of the exchange, one loop wake-up for both. Nothing of the app runs after
        that block (a list has no close()), so holding it back delays nothing."""
        route = self.route
        environ = build_environ(self.request, route.path, self.body)
        result = route.endpoint(environ, self.start_response)
        try:
            if result.__class__ is list and len(result) == 1 and self.body is None:
                return self.framed(result[0], True)
            # Sent with sendfile only as the whole answer: after a write(), the head is out
            # and the file's blocks follow as any other iterable's.
            if isinstance(result, FileWrapper) and not self.head_sent and self._sendable(result):
                self._send_file(result)
            else:
                complete = len(result) == 1 if isinstance(result, (list, tuple)) else False
                for data in result:
                    self.write(data, complete)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            errors = environ["wsgi.errors"]
            if errors.__class__ is not ErrorStream or errors.partial:  # (most have no line)
                errors.flush()
        return b""

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.pending is not None:
            raise AssertionError("start_response() called a second time without exc_info")
        start = self.pending = _start_of(status, headers)
        if start.status < 200:
            check_final_status(start.status, app_name("WSGI", self.route.path, self.route.endpoint))
        return self.write

    def write(self, data: bytes, complete: bool = False) -> None:
        """The write() callable of PEP 3333, and each block of the iterable."""
        payload = self.framed(data, complete)
        if not payload:
            return
        self.outbox.append(payload)
        self.protocol.loop.call_soon_threadsafe(self._flush)
        self.unsynced += len(payload)
        if self.unsynced > SYNC_BYTES or self.protocol.write_paused:
            self._wait_on_loop(self.protocol.drain())
            self.unsynced = 0

    def framed(self, data: bytes, complete: bool) -> bytes:
        """A block of the body as it goes on the wire, after the head if it is the first;
        `complete`: it is the whole body."""
        if self.pending is None:
            raise AssertionError("the WSGI app wrote before calling start_response()")
        if data.__class__ is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"a WSGI app must produce bytes, not {type(data).__name__}")
            data = bytes(data)
        if self.disconnected:
            raise ClientDisconnected("the client disconnected")
        if not data:
            return b""
        if self.head_sent:
            return self.framing.body(data)
        return self._head(data if complete else None) + self.framing.body(data)

    def _head(self, complete_body: bytes | None) -> bytes:
        start = self.pending
        assert start is not None
        framing = self.framing
        request = self.request
        date_server = self.protocol.state.date_server
        if self.body is not None:  # a 100 Continue may be pending: app_head() settles it
            head = app_head(
                framing, request, self.body, start.status, start.headers, date_server, complete_body
            )
            self.head_sent = True  # not before: a head refused (a bad header) can become a 500
            return head
        # Without a request body, the head and framing are a function of these: an answer
        # given before is framed once (see Start).
        key = (
            request.http_method,
            request.http_version,
            framing.keep_alive,
            date_server,
            -1 if complete_body is None else len(complete_body),
            framing.policy_lines,  # the port's CORS and HSTS lines depend on the request
        )
        memo = start.heads.get(key)
        if memo is None:
            head = framing.head(
                start.status,
                start.headers,
                request.http_method,
                request.http_version,
                date_server,
                complete_body,
            )
            if len(start.heads) >= _HEADS_SIZE:
                start.heads.clear()
            start.heads[key] = (head, framing.mode, framing.remaining, framing.keep_alive)
        else:
            head, framing.mode, framing.remaining, framing.keep_alive = memo
            framing.status = start.status
        self.head_sent = True
        return head

    def _flush(self) -> None:
        """On the loop: write what the thread framed so far, in its order."""
        outbox = self.outbox
        while outbox:
            self._write_on_loop(outbox.popleft())

    def _write_on_loop(self, payload: bytes) -> None:
        # Disconnected: the client is gone, or the server answered in the app's place.
        if not self.protocol.closed and not self.disconnected:
            self.on_wire = True
            self.protocol.transport.write(payload)

    def _wait_on_loop(self, coro: Any) -> Any:
        """Run a coroutine on the loop and wait for it, giving up when the client is gone."""
        future = asyncio.run_coroutine_threadsafe(coro, self.protocol.loop)
        while True:
            try:
                return future.result(WAIT_SLICE)
            except concurrent.futures.TimeoutError:
                if self.disconnected:
                    future.cancel()
                    raise ClientDisconnected("the client disconnected") from None

    @staticmethod
    def _sendable(wrapper: FileWrapper) -> bool:
        try:
            return stat.S_ISREG(os.fstat(wrapper.filelike.fileno()).st_mode)
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return False

    def _send_file(self, wrapper: FileWrapper) -> None:
        file = wrapper.filelike
        if self.pending is None:
            raise AssertionError("the WSGI app returned before calling start_response()")
        offset = file.tell() if hasattr(file, "tell") else 0
        count = max(0, os.fstat(file.fileno()).st_size - offset)
        head = self._head(None)
        if self.framing.mode == LENGTH:  # the app's Content-Length: send no more than that
            count = min(count, self.framing.remaining)
        elif self.framing.mode != NO_BODY:  # no Content-Length: announce the file's
            self.framing = Framing(self.framing.keep_alive, self.framing.policy_lines)
            head = self.framing.head(
                self.pending.status,
                [*self.pending.headers, (b"Content-Length", b"%d" % count)],
                self.request.http_method,
                self.request.http_version,
                self.protocol.state.date_server,
            )
        send_body = self.framing.mode == LENGTH
        self._wait_on_loop(self._sendfile_on_loop(head, file, offset, count if send_body else 0))
        if send_body:
            self.framing.remaining -= count
            self.framing.sent += count

    async def _sendfile_on_loop(self, head: bytes, file: Any, offset: int, count: int) -> None:
        protocol = self.protocol
        if protocol.closed or self.disconnected:
            raise ClientDisconnected("the client disconnected")
        self.on_wire = True
        if count:
            await send_file_range(protocol, file, offset, count, head)  # corked together
        else:
            protocol.transport.write(head)

    # -- back on the loop -----------------------------------------------------------------------
    def done(self, ok: bool, value: Any) -> None:
        """`value`: what run() returned (the answer it held back, or b""), or what it raised."""
        self._flush()  # every block the thread framed goes before the end of the answer
        if ok and value:
            self._write_on_loop(value)  # then this, as if written from the thread
        protocol = self.protocol
        state = protocol.state
        protocol.exchange = None
        request = self.request
        if self.body is not None:
            self.body.abandon()
        error: BaseException | None = None if ok else value
        # Disconnected with the connection still open: the server answered in the app's
        # place (e.g. a 413 mid-body), so nothing of the app's may be written any more.
        if protocol.closed or self.disconnected or isinstance(error, ClientDisconnected):
            protocol.abandon(request)
            return
        if error is not None:
            state.log.request_failed("WSGI app", request, error)
            self._fail(error)
            return
        try:
            tail = b"" if self.head_sent else self._head(b"")
            tail += self.framing.end()
        except (FramingError, ValueError, AssertionError) as exc:
            state.log.error("WSGI app for %s %s: %s", request.http_method, request.url_path, exc)
            self._fail(exc)
            return
        if tail:
            protocol.transport.write(tail)
        framing = self.framing
        protocol.finish(request, framing.status, framing.sent, framing.keep_alive)

    def _fail(self, error: BaseException) -> None:
        """The app failed: a 500 in its place, or a cut connection once its head is out."""
        protocol = self.protocol
        if self.head_sent:
            protocol.transport.abort()  # the head is out: a cut connection says it failed
            protocol.abandon(self.request)
            return
        status = 0 if self.pending is None else self.pending.status
        response = app_error_response(self.request, error, status, protocol.state.debug)
        protocol.respond(self.request, response)

"""HTTP/1.1 on one connection: httptools parsing, the limits a request is held to, timeouts.

HttpProtocol is built in three layers, each with its own state, one class at run time:
- connection_io.py: the transport, flow control both ways, closing and lingering;
- pipeline.py: the queue of parsed requests, their dispatch, writing their responses;
- protocol.py (here): parsing, limits, refusals, the WebSocket upgrade, the clock and drain.

Flow control, both ways:
- reading pauses while MAX_PIPELINED parsed requests wait, and while the client does not
  read what we write (the transport's high-water mark), so neither side can make this
  process buffer without bound;
- bodies past BODY_SPOOL_SIZE go to a file in the request's temp directory.
Timeouts come from the worker's one-second clock (see process/server.py), not per-request
timers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NoReturn

import httptools

from ...api.internal.connection import ConnectionInfo
from ...api.request import Request
from ..common.config import Listener
from ..common.state import WorkerState
from . import request_head, streaming_body
from .body_sinks import BodySink, open_body_sink, storage_failure
from .error_responses import HttpError
from .pipeline import RequestPipeline
from .request_head import (
    CONTENT_LENGTH,
    CONTENT_TYPE,
    CONTENT_TYPE_BIT,
    EXPECT,
    FORBIDDEN_TRAILERS,
    HOST,
    SINGLETON_BIT,
    TRANSFER_ENCODING,
    UPGRADE,
    TargetAboveRoot,
    decode_target,
    decode_target_uncached,
    header_kind,
    is_valid_host,
    repeated_singletons,
)
from .seams import NO_STARTERS, ExchangeStarter, Transport, UpgradeStarter

LINGER_TICKS = 2

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

# The memos of request_head.py, bound here by assignment and not by `from ... import`: CPython
# 3.11 compiles `name.get(...)` on a name that an import bound as an attribute load and a call,
# which makes a bound method on every request (it takes such a name for a module).
_HEADER_KINDS = request_head.HEADER_KINDS
_METHODS = request_head.METHODS
_TARGET_CACHE = request_head.TARGET_CACHE


# What a parser is fed to stand where a connection's last message has ended (see
# _parser_after_last_message): llhttp refuses every byte after it but blank lines.
_LAST_MESSAGE = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"


class _NoCallbacks:
    """httptools calls only the callbacks its protocol object has: none here."""


def _parser_after_last_message() -> httptools.HttpRequestParser:
    """A parser that has seen a connection's last message: what follows raises the error a
    connection's own parser raises for data after `Connection: close` (answered 400)."""
    parser = httptools.HttpRequestParser(_NoCallbacks())
    parser.feed_data(_LAST_MESSAGE)
    return parser


class HttpProtocol(RequestPipeline):
    """One client connection: the bytes it receives parsed into requests, held to the limits,
    and handed to the pipeline; its clock (check_timeout) and its drain (shutdown)."""

    # Slots: a connection has more attributes than CPython shares keys for (30), and slot
    # access stays fast where a full instance dict would not. These are the parser's; the
    # lower layers (pipeline.py, connection_io.py) hold their own.
    __slots__ = (
        "body",
        "body_due",
        "conn",
        "content_length",
        "content_type",
        "data_tick",
        "expect_continue",
        "failure",
        "feed_size",
        "has_transfer_encoding",
        "head_bytes",
        "head_uncounted",
        "host_count",
        "listener",
        "max_header_count",
        "max_header_size",
        "max_request_line",
        "max_request_size",
        "messages",
        "parse_tick",
        "parser",
        "parsing",
        "raw_headers",
        "repeated",
        "request",
        "singletons",
        "unusual",
        "upgrade_to_websocket",
        "url",
        "valid_host",
        "wants_upgrade",
    )

    def __init__(
        self,
        state: WorkerState,
        listener: Listener,
        exchange_starters: Mapping[str, ExchangeStarter] = NO_STARTERS,
        upgrade_to_websocket: UpgradeStarter | None = None,
    ) -> None:
        """`exchange_starters` and `upgrade_to_websocket` are what the connection hands requests
        to that it does not answer itself (process/server.py gives them); without them, such
        requests are refused."""
        super().__init__(state, listener, exchange_starters)
        self.upgrade_to_websocket = upgrade_to_websocket
        self.listener = listener
        self.conn: ConnectionInfo | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.messages = 0  # complete messages parsed on this connection
        # Ticks of the worker clock (see check_timeout): when the current message began, when
        # its body last received bytes.
        self.parse_tick = 0
        self.data_tick = 0
        # Bytes received while the current head is incomplete; while a chunked body streams,
        # its framing bytes (size lines, extensions, trailers) since the body last grew.
        self.head_bytes = 0
        self.feed_size = 0
        self.failure: HttpError | None = None
        # Per-connection copies of the limits every request is held to.
        self.max_request_line = state.max_request_line
        self.max_header_size = state.max_header_size
        self.max_header_count = state.max_header_count
        self.max_request_size = state.max_request_size
        self.url = b""
        self.valid_host = b"\x00"  # the last Host found valid on this connection (none yet)
        self._reset_unusual()
        self._reset_message()

    def _reset_message(self) -> None:
        self.parsing = False
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.host_count = 0
        self.singletons = 0  # the bits of the singleton fields seen (request_head.py)
        self.request: Request | None = None
        if self.unusual:
            self._reset_unusual()

    def _reset_unusual(self) -> None:
        """What only a message with a body, an Expect, an Upgrade or a Connection header sets."""
        self.unusual = False
        self.head_uncounted = False
        self.content_length = -1
        self.body_due = 0  # of a body whose length the head gave: the bytes not received yet
        self.has_transfer_encoding = False
        self.expect_continue = False
        self.wants_upgrade = False
        self.content_type: bytes | None = None
        self.repeated = 0  # the bits of the singleton fields seen more than once
        self.body: BodySink | None = None

    # -- transport events --------------------------------------------------------------
    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        self.transport = transport
        state = self.state
        state.connections.add(self)
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", self.listener.port)
        self.conn = ConnectionInfo(
            (str(peer[0]), int(peer[1])),
            (str(local[0]), int(local[1])),
            self.listener.name,
            transport.get_extra_info("sslcontext") is not None,
            self.listener.settings,
            state.services,
        )
        transport.set_write_buffer_limits(high=state.write_high_water)

    def data_received(self, data: bytes) -> None:
        if self.rejected:
            return  # lingering after an error: the rest is discarded unread
        upgraded = self.upgraded  # a local: self.upgraded may be set by the parse below
        if upgraded is not None:
            upgraded.data_received(data)
            return
        if self.request is not None:  # a body is due
            if self.has_transfer_encoding:
                self._receive_chunked(data)  # its own accounting (see _count_framing)
                return
            if self.body_due > 0:
                self._receive_body(data)
                return
        self.data_tick = self.state.tick
        self.feed_size = len(data)
        messages_before = self.messages
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._on_upgrade(data[int(upgrade.args[0]) :] if upgrade.args else b"")
        except (httptools.HttpParserError, HttpError) as error:
            self._parse_failed(error)
        if self.upgraded is not None:
            return  # a WebSocket now: the rest of this segment went to it (trailing)
        if self.parsing and self.request is None:  # a head still incomplete
            # Count whole segments only while one head spans them: a segment that also
            # completed earlier messages says nothing of the new head's size.
            if self.messages == messages_before:
                self.head_bytes += len(data)
            else:  # rare: a pipelined head cut short, partly in this segment
                # Its bytes here are not known (a header still incomplete is held by the
                # parser): count what is parsed, and count exactly when the head is whole.
                self.head_bytes = self._head_size()
                self.unusual = self.head_uncounted = True
            if self.head_bytes > self.max_header_size:
                self._reject(HttpError(431, "request header fields too large"))
        elif self.messages != messages_before or self.parsing or self.rejected:
            self.head_bytes = 0
        else:  # nothing but bytes before a request line (empty lines)
            self._count_preamble(len(data))
        if self.queue:
            self.pump()

    def _receive_body(self, data: bytes) -> None:
        """A segment of a body of known length, after the segment its head came in: handed to
        the body as it came, without the parser, whose on_body would copy it (a copy of every
        byte of an upload). The parser still counts that body, so once the body is whole a
        new one takes over, for what follows it."""
        self.data_tick = self.state.tick
        due = self.body_due
        # When the body ends in this segment, what follows it is the next message.
        body, rest = (data, b"") if len(data) <= due else (data[:due], data[due:])
        last = False
        try:
            self.on_body(body)  # counts it off body_due
            if self.body_due == 0:
                last = not self.parser.should_keep_alive()
                self.on_message_complete()
        except Exception:  # answered as when a callback raises inside the parser
            self._callback_failed()
        else:
            if self.body_due == 0:
                # The old parser expects more body. After the connection's last message
                # (Connection: close, HTTP/1.0), the new one refuses what follows, as the old
                # one would have: nothing sent after it may reach a handler or an app.
                self.parser = (
                    _parser_after_last_message() if last else httptools.HttpRequestParser(self)
                )
                if rest:
                    self.data_received(rest)
                    return
        if self.queue:
            self.pump()

    def _receive_chunked(self, data: bytes) -> None:
        """A segment of a chunked body (and maybe of what follows it). Its feed is the one of
        data_received, which keeps it inline: a call per segment would cost every request."""
        request = self.request
        body_before = self._body_size()
        self.feed_size = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._on_upgrade(data[int(upgrade.args[0]) :] if upgrade.args else b"")
        except (httptools.HttpParserError, HttpError) as error:
            self._parse_failed(error)
        if self.upgraded is not None:
            return  # a WebSocket now: the rest of this segment went to it (trailing)
        self._count_framing(request, body_before, len(data))
        if self.queue:
            self.pump()

    def _parse_failed(self, error: Exception) -> None:
        if isinstance(error, HttpError):
            self._reject(error)
        elif isinstance(error, httptools.HttpParserCallbackError):
            self._callback_failed()
        else:
            message = str(error) or "malformed request"
            status = 505 if "HTTP version" in message else 400
            self._reject(HttpError(status, message))

    def _callback_failed(self) -> None:
        """One of our callbacks raised: what it meant to say (`failure`), or a bug (a 500:
        answered, not hung)."""
        self._reject(self.failure or HttpError(500, "internal parser callback error"))

    def _body_size(self) -> int:
        body = self.body
        return 0 if body is None else body.size

    def _count_framing(self, request: Request | None, body_before: int, size: int) -> None:
        """A chunked body: its framing (size lines with their extensions, the trailer section)
        between two pieces of body data is bounded by MAX_HEADER_SIZE, and a body that stops
        growing times out like any other, however many framing bytes keep coming."""
        if self.rejected:
            return
        if self.request is not request or not self.parsing:  # the message ended here
            if self.parsing:  # and a pipelined head began: counted as in data_received
                self.head_bytes = self._head_size()
                self.unusual = self.head_uncounted = True
            else:
                self.head_bytes = 0
        elif self._body_size() > body_before:
            self.data_tick = self.state.tick
            self.head_bytes = 0  # the trailer section is also counted exactly, at its end
        else:
            self.head_bytes += size
            if self.head_bytes > self.max_header_size:
                self._reject(HttpError(431, "chunk framing or trailer fields too large"))

    def _count_preamble(self, size: int) -> None:
        """Empty lines before a request line are allowed (RFC 9112 §2.2), but not endlessly."""
        self.head_bytes += size
        if self.head_bytes > self.max_request_line:
            self._reject(HttpError(400, "no request line"))

    def eof_received(self) -> bool | None:
        if self.upgraded is not None:  # a WebSocket: it learns of it, then our side closes
            self.upgraded.eof_received()
            self.close()
            return None
        if self.active is None and not self.queue:
            self.close()
            return None
        return True  # finish answering what was already received, then close

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        upgraded = self.upgraded
        if upgraded is None or not upgraded.holds_registration:
            # An upgrade that says so unregisters the connection itself once its handler has
            # finished (WebSocket.disconnect), so that a drain waits for that too.
            self.state.connections.discard(self)
        if self.request is not None:  # cut off mid-upload
            self.discard(self.request, self.body)
        for entry, _ in self.queue:
            if isinstance(entry, Request):
                self.discard(entry, entry.body_source)
        self.queue.clear()
        if self.send_task is not None:
            self.send_task.cancel()
        for waiter in (self.drain_waiter, self.file_waiter):
            if waiter is not None and not waiter.done():
                waiter.set_exception(ConnectionResetError("client disconnected"))
        if self.upgraded is not None:
            self.upgraded.connection_lost(exc)
        if self.exchange is not None:
            self.exchange.connection_lost()

    # -- parser callbacks --------------------------------------------------------------
    def _fail(self, status: int, message: str) -> NoReturn:
        self.failure = HttpError(status, message)
        raise self.failure

    def on_url(self, url: bytes) -> None:
        if self.parsing:  # the target arrived in pieces
            self.url += url
        else:  # the first callback of a message
            self.parsing = True
            self.parse_tick = self.state.tick
            self.url = url
        if len(self.url) > self.max_request_line:
            self._fail(414, "request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        # Size limits are enforced on raw bytes in data_received; here only what we must know.
        self.raw_headers.append((name, value))
        kind = _HEADER_KINDS.get(name)
        if kind is None:
            kind = header_kind(name)
        if kind == 0:
            return
        if kind == HOST:
            self.host_count += 1
            if value != self.valid_host:  # a keep-alive client sends the same Host again
                self._check_host(value)
            return
        if self.request is not None:
            return  # a trailer field (kept apart, see _keep_trailers): nothing to act on
        if kind >= SINGLETON_BIT:  # checked with the unusual head when one comes twice
            if self.singletons & kind:
                self.unusual = True
                self.repeated |= kind
            self.singletons |= kind
            return
        self.unusual = True
        if kind == CONTENT_LENGTH:
            self.content_length = int(value)  # llhttp already rejected non-digits
        elif kind == TRANSFER_ENCODING:
            self.has_transfer_encoding = True
            if value.strip().lower() != b"chunked":
                self._check_transfer_coding(value)
        elif kind == EXPECT:
            self.expect_continue = value.strip().lower() == b"100-continue"
        elif kind == CONTENT_TYPE:
            if self.content_type is None:
                self.content_type = value
            else:  # a second one: the same value, or refused (_check_unusual_head)
                self.repeated |= CONTENT_TYPE_BIT
        elif kind == UPGRADE:
            self.wants_upgrade = True  # a WebSocket, or declined (see _on_upgrade)

    def _check_host(self, value: bytes) -> None:
        if not is_valid_host(value):
            self._fail(400, "malformed Host header")
        self.valid_host = value

    def on_headers_complete(self) -> None:
        parser = self.parser
        # Without a Connection header, llhttp keeps alive exactly the HTTP/1.1 messages; asking
        # that is ten times cheaper than get_http_version(), which formats a new string.
        if not self.unusual and parser.should_keep_alive():
            version = "1.1"
        else:
            version = parser.get_http_version()
        if (
            version != "1.1"
            or self.unusual
            or self.host_count != 1
            or len(self.raw_headers) > self.max_header_count
            or self.head_bytes + self.feed_size > self.max_header_size
        ):
            self._check_unusual_head(version)
        raw_method = parser.get_method()
        method = _METHODS.get(raw_method)
        if method is None:
            method = self._new_method(raw_method)
        target = self.url
        decoded = _TARGET_CACHE.get(target)
        path, query = self._decode_new_target(method, target) if decoded is None else decoded
        self.request = Request(
            self.conn,  # type: ignore[arg-type]
            method,
            target,
            path,
            query,
            self.raw_headers,
            version,
        )
        if self.content_length > 0 or self.has_transfer_encoding:
            if self.wants_upgrade and parser.should_upgrade():
                return  # no body now: an upgrade, or a declined one parsed again (_on_upgrade)
            if self.has_transfer_encoding:
                self.raw_headers = []  # from now on: trailer fields, kept apart
            else:
                self.body_due = self.content_length
            if self.router.streaming and self._stream_body(self.request):
                return  # dispatched now; the body streams to the app
            # Only on an idle connection: mid-pipeline it would land inside another response
            # (the client sends the body anyway after its own short wait).
            if self.expect_continue and version == "1.1" and self.active is None and not self.queue:
                self.transport.write(_CONTINUE)

    def _stream_body(self, request: Request) -> bool:
        """At headers-complete of a request with a body: when its route is a mount, the request
        is queued now and its body streams to the app as it arrives (streaming_body.py)."""
        route = self.router.match(self.port_name, request.url_path)
        if route is None or not route.streams_body:
            return False
        expect = self.expect_continue and request.http_version == "1.1"
        sink = streaming_body.StreamingBody(self, request, expect)
        self.body = sink
        request.body_source = sink  # type: ignore[assignment]  # read by the adapters only
        self.queue.append((request, self.parser.should_keep_alive()))
        if len(self.queue) >= self.state.max_pipelined:
            self.pause_reading()
        return True

    def _check_transfer_coding(self, value: bytes) -> None:
        """Only `chunked` is decoded here; a body in any other coding is never passed on as if
        it were plain (llhttp already refuses a coding list that does not end in chunked)."""
        codings = [c.strip().lower() for c in value.split(b",") if c.strip()]
        if codings != [b"chunked"]:
            self._fail(501, "transfer coding not implemented: " + value.decode("latin-1"))

    def _new_method(self, raw_method: bytes) -> str:
        """Methods are memoised, all but CONNECT: a tunnel is not served (llhttp would take
        the rest of the connection for it), so every CONNECT comes here to be refused."""
        if raw_method == b"CONNECT":
            self._fail(501, "CONNECT is not supported")
        return _METHODS.setdefault(raw_method, raw_method.decode("ascii"))

    def _decode_new_target(self, method: str, target: bytes) -> tuple[str, bytes]:
        """A target not seen lately: its form is checked (RFC 9112 §3.2); only origin-form
        targets are memoised, so the others always take this path."""
        if target[:1] == b"/":
            try:
                return decode_target(target)
            except TargetAboveRoot:
                self._fail(400, "the request target climbs above the root")
        if target == b"*":
            if method != "OPTIONS":
                self._fail(400, "the target '*' is only for OPTIONS")
            return "*", b""
        scheme, separator, rest = target.partition(b"://")
        if not separator or scheme.lower() not in (b"http", b"https"):
            self._fail(400, "malformed request target")
        authority = re.split(rb"[/?#]", rest, maxsplit=1)[0]
        if not authority or not is_valid_host(authority):
            self._fail(400, "malformed host in the request target")
        # Absolute form: the target's host is the request's, whatever Host said (§3.2.2).
        self.raw_headers[:] = [
            (name, authority) if name.lower() == b"host" else (name, value)
            for name, value in self.raw_headers
        ]
        try:
            return decode_target_uncached(target)
        except TargetAboveRoot:
            self._fail(400, "the request target climbs above the root")

    def _check_unusual_head(self, version: str) -> None:
        """The checks a plain HTTP/1.1 request with one Host passes; raises on a bad head."""
        if version != "1.1" and version != "1.0":
            self._fail(505, f"HTTP version {version} is not supported")
        if len(self.raw_headers) > self.max_header_count:
            self._fail(431, "too many request header fields")
        # The bytes received so far bound the head's size: count exactly only past the limit.
        if self.head_uncounted or self.head_bytes + self.feed_size > self.max_header_size:
            if self._head_size() > self.max_header_size:
                self._fail(431, "request header fields too large")
        if self.has_transfer_encoding and version == "1.0":
            self._fail(400, "Transfer-Encoding is not allowed in HTTP/1.0")
        if self.host_count > 1:
            self._fail(400, "more than one Host header")
        if self.host_count == 0 and version == "1.1":
            self._fail(400, "missing Host header")
        if self.content_length > self.max_request_size:
            self._fail(413, "request body larger than the server accepts")
        if self.repeated:
            self._check_repeated_singletons()

    def _check_repeated_singletons(self) -> None:
        """A field that may appear once came twice: two values of it mean neither (which
        Content-Type, which credentials?), so the request is refused; an identical repeat is
        dropped (RFC 9110 §5.3)."""
        name, kept = repeated_singletons(self.raw_headers, self.repeated)
        if name is not None:
            self._fail(400, f"two different values of the header field {name}")
        self.raw_headers[:] = kept

    def _keep_trailers(self, request: Request) -> None:
        """The trailer section, within the header limits; never merged into the headers."""
        trailers = self.raw_headers
        if not trailers:
            return
        if len(trailers) > self.max_header_count:
            self._fail(431, "too many trailer fields")
        if sum(len(n) + len(v) + 3 for n, v in trailers) > self.max_header_size:
            self._fail(431, "trailer fields too large")
        request.trailer_fields = [
            (name, value) for name, value in trailers if name.lower() not in FORBIDDEN_TRAILERS
        ]

    def _head_size(self) -> int:
        """The parsed head's size, never more than it took on the wire: each header line
        counts its shortest form, `name:value` and CR LF."""
        return len(self.url) + sum(len(n) + len(v) + 3 for n, v in self.raw_headers)

    def on_body(self, data: bytes) -> None:
        if self.body_due:
            self.body_due -= len(data)
        body = self.body
        try:
            if body is None:
                assert self.request is not None
                body = self.body = open_body_sink(self.state, self.request, self.content_type)
            body.append(data)
        except HttpError as error:  # e.g. a malformed multipart body: answered, not a 500
            self.failure = error
            raise
        except OSError as error:  # the disk is full: 507 (every kind of body, one path)
            assert self.request is not None
            self.failure = storage_failure(self.request, error)
            raise
        if body.size > self.max_request_size:
            self._fail(413, "request body larger than the server accepts")

    def on_message_complete(self) -> None:
        request = self.request
        assert request is not None
        if self.has_transfer_encoding and self.raw_headers is not request.raw_headers:
            self._keep_trailers(request)
        if self.body is not None:
            try:
                self.body.finish()
            except HttpError as error:  # e.g. a malformed multipart body
                self.failure = error
                raise
            except OSError as error:  # its last bytes could not be stored
                self.failure = storage_failure(request, error)
                raise
            if self.body.__class__ is streaming_body.StreamingBody:
                self.messages += 1
                self._reset_message()  # queued at headers-complete already
                return
        if self.wants_upgrade and self.parser.should_upgrade():
            return  # feed_data raises HttpParserUpgrade next: _on_upgrade takes the request
        keep_alive = self.parser.should_keep_alive()
        self.messages += 1
        self._reset_message()
        if self.closing:
            request.cleanup()  # pipelined behind a request that closes the connection
        elif self.active is None and not self.queue and not self.write_paused:
            self._start(request, keep_alive)  # the common case: nothing to wait behind
        else:
            self.queue.append((request, keep_alive))
            if len(self.queue) >= self.state.max_pipelined:
                self.pause_reading()

    # -- refusals ----------------------------------------------------------------------
    def _reject(self, error: HttpError) -> None:
        """Queue an error answer behind the requests already parsed, and stop reading."""
        self.rejected = True
        self.failure = None
        request, body = self.request, self.body
        self._reset_message()
        if request is not None:
            self.discard(request, body)
            if body.__class__ is streaming_body.StreamingBody and self._withdraw(request, error):
                return
        self.pause_reading()
        if self.closing:  # its last answer is written: nothing more goes out to be read
            return
        self.queue.append((error, False))

    def _withdraw(self, request: Request, error: HttpError) -> bool:
        """A request whose body was streaming to an app is refused mid-body (e.g. past
        max_request_size): the refusal, not the app's answer, is what the client reads.
        True when that is settled here; False: queue the refusal as usual."""
        for index, (entry, _) in enumerate(self.queue):
            if entry is request:  # not started yet: the refusal takes its place
                del self.queue[index]
                return False
        exchange = self.exchange
        if self.active is not request or exchange is None:
            return False
        exchange.connection_lost()  # from now on the app's answer goes nowhere
        if exchange.on_wire:
            # Its answer is partly out and cannot become a 413: it stops short, and our side
            # of the connection ends (a half-close, so the client reads what was sent).
            self.state.log.lifecycle("request cut mid-answer: %d %s", error.status, error.message)
            self.linger()
        else:
            self.send_rejection(error)
        return True

    # -- upgrade -----------------------------------------------------------------------
    def _on_upgrade(self, trailing: bytes) -> None:
        replay = self._upgrade_or_replay(trailing)
        while replay is not None:  # a declined upgrade: parse its head again, then the rest
            self.parser = httptools.HttpRequestParser(self)  # the old one stays stopped
            data, replay = replay, None
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade as upgrade:  # a later message upgrades too
                replay = self._upgrade_or_replay(
                    data[int(upgrade.args[0]) :] if upgrade.args else b""
                )
            except (httptools.HttpParserError, HttpError) as error:
                self._parse_failed(error)

    def _upgrade_or_replay(self, trailing: bytes) -> bytes | None:
        """Hand the connection to the WebSocket, or decline: an Upgrade we do not speak (h2c,
        ...) is ignored, as RFC 9110 §7.8 allows, and the request served as HTTP/1.1, body
        included. The parser stopped at the end of its head (it took the rest for the new
        protocol): the bytes returned (the head without Upgrade, then the rest) are parsed anew."""
        request = self.request
        if request is None:  # not expected: every upgrade is held at on_message_complete
            self.rejected = True
            if self.queue:
                self.queue[-1] = (self.queue[-1][0], False)
            elif self.active is not None:
                self.active_keep_alive = False
            else:
                self.close()
            return None
        if b"websocket" not in (request.raw_header(b"upgrade") or b"").lower():
            request.cleanup()
            self._reset_message()
            return self._head_without_upgrade(request) + trailing
        upgrade_to_websocket = self.upgrade_to_websocket
        if upgrade_to_websocket is None:
            self._reject(HttpError(400, "unsupported protocol upgrade"))
        elif self.active is not None or self.queue:
            self._reject(HttpError(400, "protocol upgrade while requests are pending"))
        else:
            self._reset_message()
            upgrade_to_websocket(self, request, trailing)
        return None

    @staticmethod
    def _head_without_upgrade(request: Request) -> bytes:
        method, version = request.http_method.encode(), request.http_version.encode()
        lines = [b"%s %s HTTP/%s" % (method, request.target, version)]
        for name, value in request.raw_headers:
            if name.lower() != b"upgrade":
                lines.append(name + b": " + value)
        return b"\r\n".join(lines) + b"\r\n\r\n"

    # -- lifecycle ---------------------------------------------------------------------
    def check_timeout(self, tick: int) -> None:
        """Called once a second by the worker clock: what the connection waits for decides."""
        if self.closed or self.upgraded is not None:
            return
        state = self.state
        stalling = self.write_paused or self.closing or self.file_waiter is not None
        if stalling and self.send_stalled(tick):
            state.log.lifecycle(
                "closing a connection whose client read nothing for %gs",
                state.config.server.SEND_TIMEOUT,
            )
            self.transport.abort()
        elif self.lingering:  # after an error answer
            if tick - self.idle_tick >= LINGER_TICKS:
                self.transport.abort()
        elif self.active is not None or self.queue:
            return  # a handler is at work: no client timeout applies
        elif self.parsing:
            # A head must arrive whole in time; a body only needs to keep flowing.
            started = self.parse_tick if self.request is None else self.data_tick
            if tick - started >= state.header_timeout_ticks:
                self._reject(HttpError(408, "timed out waiting for the request"))
                self.pump()
        elif tick - self.idle_tick >= state.keepalive_timeout_ticks:
            # A request that came while the loop was busy is read and answered, not reset.
            if not self.input_waiting():
                self.close()

    def idle_since(self) -> int | None:
        """The clock tick since which this is an idle keep-alive connection (between requests,
        nothing sent or waiting); None when it is anything else. A worker short of
        descriptors closes the oldest of these to admit new clients (process/descriptors.py)."""
        if (
            self.closed
            or self.upgraded is not None
            or self.active is not None
            or self.queue
            or self.parsing
            or self.closing
            or self.lingering
            or self.write_paused
            or self.input_waiting()
        ):
            return None
        return self.idle_tick

    def in_progress(self) -> str | None:
        """What a drain waits for on this connection (said in its log line); None when idle."""
        if self.upgraded is not None:
            return "a WebSocket"
        active = self.active
        if active is not None:
            return f"{active.http_method} {active.url_path}"
        return None

    def shutdown(self, close_idle: bool = True) -> None:
        """Draining: close after the response in progress; an idle connection closes now only
        when `close_idle` (a request arriving later is then answered with Connection: close).
        A request still being received counts as in progress, and so does one the client has
        sent that waits unread in the socket (a connection accepted just before the drain):
        closed, its client would be reset instead of answered."""
        if self.upgraded is not None:
            self.upgraded.shutdown()
        elif self.active is None and not self.queue and not self.parsing:
            if close_idle and not self.input_waiting():
                self.close()
        else:
            self.active_keep_alive = False

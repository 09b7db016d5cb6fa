"""Framing a response an application describes as a status and raw headers (WSGI and ASGI).

Pure bytes, no I/O: the adapters decide when and from which thread to write. The framing
follows what the app said when it can: its Content-Length is kept (and enforced), a body known
in full gets one, no body is sent for HEAD, 204 and 304, and otherwise HTTP/1.1 gets
chunked encoding and HTTP/1.0 a body delimited by closing the connection. An informational
status (1xx) is never framed as an answer: see InterimStatus.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...api.internal.headers import check_header_block
from ..http.error_responses import error_response
from ..http.response_head import (
    CHUNKED,
    LAST_CHUNK,
    LENGTH_LINES,
    NO_CONNECTION_HEADER,
    chunk,
    connection_header,
    content_length_line,
    status_line,
)

# Headers the server owns: an app's copy would contradict the framing we choose.
_HOP_BY_HOP = frozenset(
    (b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade")
)

# Every header name the loop below treats specially: the others cost one set lookup.
_SPECIAL = _HOP_BY_HOP | {b"content-length", b"server", b"date"}

NO_BODY, LENGTH, CHUNKS, UNTIL_CLOSE = range(4)

# What an app hands us, typed as it may come, not as we would like it: the compiled build
# (setup.py) checks a value's type where it is passed, and must accept what the sources do.
# Headers: pairs, lists as often as tuples (ASGI allows any iterable), of byte strings or other
# buffers (a bytearray value frames as well as bytes): what a name or value may be is left to
# the operations on it, as in the sources. A body: bytes, a bytearray or memoryview (or None,
# where a parameter says `AppBody | None`).
AppHeaders = Sequence[Sequence[Any]]
AppBody = bytes | bytearray | memoryview


if TYPE_CHECKING:
    from ...api.request import Request
    from ...api.response import Response
    from ..http.streaming_body import StreamingBody
    from ..policies.base import PortPolicy


class FramingError(Exception):
    """The app broke its own framing (e.g. sent fewer bytes than its Content-Length)."""


class InterimStatus(ValueError):
    """An app gave an informational (1xx) status as its answer.

    A client reads a 1xx as an interim answer and waits for the final one; written and kept
    alive, the next pipelined answer would be read as this one's. Hosted apps have no way to
    send an interim answer (a 101 needs a real upgrade, which the server does itself), so the
    server answers 500 in the app's place and closes the connection (see refusal_of).
    """

    def __init__(self, status: int, app: str = "the app") -> None:
        super().__init__(
            f"{app} answered with status {status}: an informational (1xx) status is not a "
            "final answer (the server answers 500 and closes the connection)"
        )
        self.status = status


def app_name(kind: str, mount_path: str, app: object) -> str:
    """How log lines name a hosted app: its kind, where it is mounted and what it is."""
    name = getattr(app, "__qualname__", None) or type(app).__qualname__
    module = getattr(app, "__module__", None) or type(app).__module__
    return f"the {kind} app {module}.{name} mounted at {mount_path}"


def app_error_response(
    request: Request, error: BaseException, status: int, debug: bool
) -> Response:
    """The 500 the server answers in place of an app that failed before its head went out;
    `status`: the one the app gave (0: none). After a 1xx the connection closes: the client
    may have taken it for an interim answer already (a proxy in front may have passed it on)."""
    response = error_response(request, error, debug)
    if 100 <= status < 200:
        response.setHeader("Connection", "close")
    return response


def check_final_status(status: int, app: str) -> None:
    """InterimStatus for a 1xx status given as an app's answer."""
    if 100 <= status < 200:
        raise InterimStatus(status, app)


def _without_lines(date_server: bytes, names: tuple[bytes, ...]) -> bytes:
    """The server's Date and Server lines, less those the app sent its own of."""
    lines = date_server.split(b"\r\n")
    return b"".join(line + b"\r\n" for line in lines if line and not line.startswith(names))


# An app's header block, validated and framed, by the headers' content: most apps send the
# same few headers on every answer. Bounded in entries and in size (a block that differs on
# every answer, e.g. with a fresh cookie, is framed each time): at most ~0.5 MiB.
_BLOCKS: dict[tuple[Sequence[Any], ...], tuple[bytes, int | None, bool, tuple[bytes, ...]]]
_BLOCKS = {}
_BLOCKS_ENTRIES = 256
_BLOCK_MEMO_BYTES = 1024


def app_header_block(
    headers: AppHeaders,
) -> tuple[bytes, int | None, bool, tuple[bytes, ...]]:
    """(header lines, the app's Content-Length or None, whether it asked to close, the server
    lines it replaces), for an app's raw headers; ValueError for headers no response may have.
    """
    try:
        key = tuple(headers)
        known = _BLOCKS.get(key)
    except TypeError:  # a header given as a list (allowed): no memo for such an app
        return _frame_header_block(headers)
    if known is None:
        known = _frame_header_block(headers)
        if len(known[0]) <= _BLOCK_MEMO_BYTES and _plain_bytes(headers):
            if len(_BLOCKS) >= _BLOCKS_ENTRIES:
                _BLOCKS.clear()
            _BLOCKS[key] = known
    return known


def _plain_bytes(headers: AppHeaders) -> bool:
    """Only headers of plain bytes are memoised: a bytes subclass equals the plain bytes of
    its content, but its methods (lower()) may frame it otherwise."""
    return all(name.__class__ is bytes and value.__class__ is bytes for name, value in headers)


def _frame_header_block(
    headers: AppHeaders,
) -> tuple[bytes, int | None, bool, tuple[bytes, ...]]:
    lines: list[bytes] = []
    length: int | None = None
    closes = False
    replaces: tuple[bytes, ...] = ()
    for name, value in headers:
        lowered = name.lower()
        if lowered not in _SPECIAL:
            lines.append(name + b": " + value + b"\r\n")
            continue
        if lowered in _HOP_BY_HOP:
            if lowered == b"connection" and value.lower().find(b"close") >= 0:
                closes = True
            continue
        if lowered == b"content-length":
            digits = value.strip()
            if not digits.isdigit() or len(digits) > 18:  # no sign, no '_': a byte count
                raise ValueError(f"invalid Content-Length {value!r}")
            length = int(digits)
            continue
        replaces += (b"Server:",) if lowered == b"server" else (b"Date:",)
        lines.append(name + b": " + value + b"\r\n")
    block = b"".join(lines)
    check_header_block(headers, block, len(lines))
    return block, length, closes, replaces


class Framing:
    """One response: head() once, then body() per block, then end()."""

    __slots__ = ("keep_alive", "mode", "policy_lines", "remaining", "sent", "status")

    def __init__(
        self, keep_alive: bool, policy_lines: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        self.keep_alive = keep_alive
        # The port policy's headers (CORS, HSTS: PortPolicy.header_lines), added to the app's.
        self.policy_lines = policy_lines
        self.mode = NO_BODY
        self.remaining = 0
        self.sent = 0
        self.status = 0

    def head(
        self,
        status: int,
        headers: AppHeaders,
        method: str,
        version: str,
        date_server: bytes,
        complete_body: AppBody | None = None,
    ) -> bytes:
        """The head; `complete_body` is the whole body when it is already known.

        ValueError for a status outside 100-599, a header name that is not a token, a control
        character in a value (the rules a Response's headers follow) or a bad Content-Length.
        """
        if not 100 <= status <= 599:
            raise ValueError(f"invalid HTTP status {status!r}: a status is from 100 to 599")
        if status < 200:  # the adapters refuse it earlier, naming the app
            raise InterimStatus(status)
        block, length, date_server = self._app_headers(status, headers, date_server)
        framing = b""
        if status in (204, 304) or method == "HEAD":
            self.mode = NO_BODY
            if length is not None and status != 204:
                framing = content_length_line(length)
        elif length is not None:
            self.mode, self.remaining = LENGTH, length
            framing = content_length_line(length)
        elif complete_body is not None:
            self.mode, self.remaining = LENGTH, len(complete_body)
            framing = content_length_line(len(complete_body))
        elif version == "1.1":
            self.mode = CHUNKS
            framing = CHUNKED
        else:
            self.mode = UNTIL_CLOSE
            self.keep_alive = False
        return b"".join(
            (
                status_line(status),
                block,
                framing,
                connection_header(self.keep_alive, version),
                date_server,
                b"\r\n",
            )
        )

    def whole(
        self,
        status: int,
        headers: AppHeaders,
        method: str,
        version: str,
        date_server: bytes,
        body: bytes,
    ) -> bytes:
        """A response known in full at once (the usual app answer): head, body and end in one
        step, exactly as head(), body() and end() would frame them."""
        if method == "HEAD" or not 200 <= status <= 599 or status == 204 or status == 304:
            # No body goes out (or the status is refused): head() says how, as it always did.
            payload = self.head(status, headers, method, version, date_server, body)
            return payload + self.body(body) + self.end()
        # _app_headers() inline, as are the length and connection lines below: this runs for
        # nearly every answer of an app, and each call is a frame.
        self.status = status
        block, length, closes, replaces = app_header_block(headers)
        if self.policy_lines:
            block += _policy_block(self.policy_lines, headers)
        if closes:
            self.keep_alive = False
        if replaces:
            date_server = _without_lines(date_server, replaces)
        if length is None:
            length = len(body)
        elif length < len(body):
            body = body[:length]  # never past the announced length
        elif length > len(body):
            raise FramingError(
                f"response ended {length - len(body)} bytes short of its Content-Length"
            )
        self.mode = LENGTH
        self.sent = length
        return b"".join(
            (
                status_line(status),
                block,
                LENGTH_LINES[length] if length < 4096 else content_length_line(length),
                NO_CONNECTION_HEADER
                if self.keep_alive and version == "1.1"
                else connection_header(self.keep_alive, version),
                date_server,
                b"\r\n",
                body,
            )
        )

    def _app_headers(
        self, status: int, headers: AppHeaders, date_server: bytes
    ) -> tuple[bytes, int | None, bytes]:
        """What head() and whole() take from the app's status and headers: (its header lines,
        its Content-Length or None, the server's Date and Server lines it did not replace)."""
        self.status = status
        block, length, closes, replaces = app_header_block(headers)
        if self.policy_lines:
            block += _policy_block(self.policy_lines, headers)
        if closes:
            self.keep_alive = False
        if replaces:
            date_server = _without_lines(date_server, replaces)
        return block, length, date_server

    def body(self, data: AppBody | None) -> bytes:
        """A body block as it goes on the wire (nothing for a bodiless response)."""
        mode = self.mode
        if not data or mode == NO_BODY:
            return b""
        if mode == LENGTH:
            if len(data) > self.remaining:
                data = data[: self.remaining]  # never write past the announced length
            self.remaining -= len(data)
        self.sent += len(data)
        # bytes() of plain bytes is the same object: only a bytearray or memoryview is copied.
        return chunk(data) if mode == CHUNKS else bytes(data)

    def end(self) -> bytes:
        """The end of the body; FramingError when it fell short of its Content-Length."""
        if self.mode == CHUNKS:
            return LAST_CHUNK
        if self.mode == LENGTH and self.remaining:
            raise FramingError(f"response ended {self.remaining} bytes short of its Content-Length")
        return b""


def policy_lines_for(policy: PortPolicy, request: Request) -> tuple[tuple[bytes, bytes], ...]:
    """The headers the port's policy adds to every response (PortPolicy.header_lines); the
    adapters call it only on a port with a policy (most have none: nothing to pay)."""
    return tuple(policy.header_lines(request))


def _policy_block(lines: Sequence[tuple[bytes, bytes]], headers: AppHeaders) -> bytes:
    """The policy's lines, less those whose header the app set itself (its own CORS or HSTS
    wins; Vary is a list, so both lines go)."""
    named = {name.lower() for name, _ in headers}
    return b"".join(line for name, line in lines if name == b"vary" or name not in named)


def app_head(
    framing: Framing,
    request: Request,
    body: StreamingBody | None,
    status: int,
    headers: AppHeaders,
    date_server: bytes,
    complete_body: AppBody | None,
) -> bytes:
    """The head of a hosted app's answer (WSGI and ASGI alike)."""
    end_continue(framing, body)
    return framing.head(
        status,
        headers,
        request.http_method,
        request.http_version,
        date_server,
        complete_body,
    )


def end_continue(framing: Framing, body: StreamingBody | None) -> None:
    """A client still waiting for 100 Continue gets none once the final answer has started:
    a 100 would land inside it. Such a client may or may not send its body, so the
    connection cannot be reused."""
    if body is not None and body.continue_pending and not body.complete:
        framing.keep_alive = False
        body.continue_pending = False

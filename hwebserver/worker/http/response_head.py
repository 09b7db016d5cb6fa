"""Serialising a response head to bytes."""

from __future__ import annotations

from functools import lru_cache
from http import HTTPStatus

from ...api.response import Response


@lru_cache(maxsize=256)
def status_line(status: int) -> bytes:
    """We answer HTTP/1.0 clients with HTTP/1.1 too, as RFC 9110 section 6.2 allows."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("ascii")


# Framing and connection management are the server's: a handler's copy would contradict them.
SERVER_OWNED_HEADERS = frozenset(("content-length", "transfer-encoding", "connection"))


def _encode(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


# Encoded header blocks by the headers' (name, value) pairs: a service answers with the same
# few sets (a Cache-Control, a CORS header) again and again. Cleared when full.
_BLOCKS: dict[tuple[tuple[str, str], ...], bytes] = {}
_BLOCKS_SIZE = 512


def header_block(headers: dict[str, tuple[str, str]]) -> bytes:
    """The header lines of a response, those the server owns left out."""
    pairs = tuple(headers.values())
    block = _BLOCKS.get(pairs)
    if block is None:
        block = _encode(
            "".join(
                [
                    f"{name}: {value}\r\n"
                    for name, value in pairs
                    if name.lower() not in SERVER_OWNED_HEADERS
                ]
            )
        )
        if len(_BLOCKS) >= _BLOCKS_SIZE:
            _BLOCKS.clear()
        _BLOCKS[pairs] = block
    return block


def build_head(response: Response, framing: bytes, connection: bytes, date_server: bytes) -> bytes:
    """Status line, the response's headers, framing (Content-Length or chunked), Date, Server.

    A handler's own Server or Date replaces the default one: a response never carries two.
    """
    headers = response.header_fields
    block = header_block(headers)
    if "server" in headers or "date" in headers:
        date_server = without_defaults(date_server, "server" in headers, "date" in headers)
    if response.cookie_lines:
        block += _encode("".join([f"Set-Cookie: {cookie}\r\n" for cookie in response.cookie_lines]))
    return b"".join(
        (status_line(response.status_code), block, framing, connection, date_server, b"\r\n")
    )


def without_defaults(date_server: bytes, server: bool, date: bool) -> bytes:
    """The default Date and Server lines less those the response sets itself."""
    return b"".join(
        line + b"\r\n"
        for line in date_server.split(b"\r\n")
        if line
        and not (server and line.startswith(b"Server:"))
        and not (date and line.startswith(b"Date:"))
    )


# Statuses that never carry a body, nor a Content-Length to announce one (RFC 9110 8.6).


def content_length_line(length: int) -> bytes:
    return LENGTH_LINES[length] if length < 4096 else b"Content-Length: %d\r\n" % length


CHUNKED = b"Transfer-Encoding: chunked\r\n"
CLOSE = b"Connection: close\r\n"
KEEP_ALIVE = b"Connection: keep-alive\r\n"
NO_CONNECTION_HEADER = b""


def chunk(data: bytes | bytearray | memoryview) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def connection_header(keep_alive: bool, version: str) -> bytes:
    """HTTP/1.1 keeps alive by default; HTTP/1.0 must be told it is kept alive."""
    if not keep_alive:
        return CLOSE
    return NO_CONNECTION_HEADER if version == "1.1" else KEEP_ALIVE


_PREFIXES: dict[tuple[int, str], bytes] = {}
_OK_PREFIXES: dict[str, bytes] = {}  # status 200 by content type: no tuple key to build
# The Content-Length lines of the lengths most bodies have, by length (indexed inline where a
# call per response would show: simple_head, response_framing.Framing.whole).
LENGTH_LINES = [b"Content-Length: %d\r\n" % length for length in range(4096)]


def simple_head(status: int, content_type: str, length: int, date_server_end: bytes) -> bytes:
    """The head of the most common response: a status, a Content-Type and a length, kept alive.

    The status line and Content-Type are cached together, so this is a few concatenations.
    """
    prefix = (
        _OK_PREFIXES.get(content_type) if status == 200 else _PREFIXES.get((status, content_type))
    )
    if prefix is None:
        prefix = status_line(status) + _encode(f"Content-Type: {content_type}\r\n")
        if len(_PREFIXES) < 1024:
            _PREFIXES[(status, content_type)] = prefix
            if status == 200:
                _OK_PREFIXES[content_type] = prefix
    if length < 4096:  # the table inline: this runs for most responses
        return prefix + LENGTH_LINES[length] + date_server_end
    return prefix + content_length_line(length) + date_server_end

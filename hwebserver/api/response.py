"""The Response object a handler returns."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Iterable
from http import HTTPStatus
from typing import Any

from .internal.cookies import format_set_cookie
from .internal.headers import check_header, check_header_value

_BODY_PREVIEW_SIZE = 65536
# Statuses whose responses have no body (RFC 9110 6.4.1, 15.2, 15.3.5, 15.4.5), nor a
# Content-Length to announce one: 1xx, 204 and 304.
BODILESS_STATUSES = frozenset(range(100, 200)) | {204, 304}
# Every status a response may have, and whether it carries a body: one lookup checks both.
_CARRIES_BODY = {status: status not in BODILESS_STATUSES for status in range(100, 600)}


def status_label(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _refuse_status(status: object) -> ValueError:
    return ValueError(f"invalid HTTP status {status!r}: a status is from 100 to 599")


def checked_status(status: Any) -> int:
    """`status` as an int, ValueError when it is not a status from 100 to 599."""
    number = status if status.__class__ is int else int(status)
    if number not in _CARRIES_BODY:
        raise _refuse_status(status)
    return number


# Content types that passed check_header, each with what a str body sends: a text type without
# a charset gets '; charset=utf-8', the encoding str bodies are sent in. A handful in practice.
_TEXT_TYPES: dict[str, str] = {}
_TEXT_TYPES_SIZE = 256


def text_content_type(content_type: str) -> str:
    """The Content-Type of a str body: checked like any header, with the charset it is sent in."""
    known = _TEXT_TYPES.get(content_type)
    if known is not None:
        return known
    if not isinstance(content_type, str):
        raise TypeError(f"content_type must be a str, not {type(content_type).__name__}")
    check_header("Content-Type", content_type)
    result = _add_charset(content_type)
    if len(_TEXT_TYPES) < _TEXT_TYPES_SIZE:  # never unbounded
        _TEXT_TYPES[content_type] = result
    return result


def checked_content_type(content_type: str) -> str:
    """`content_type` unchanged, once it passed the same check (memoised as above)."""
    if content_type not in _TEXT_TYPES:
        text_content_type(content_type)
    return content_type


def _add_charset(content_type: str) -> str:
    lowered = content_type.lower()
    is_text = lowered.startswith("text/") or lowered in (
        "application/json",
        "application/javascript",
        "application/xml",
    )
    if is_text and "charset=" not in lowered:
        return content_type + "; charset=utf-8"
    return content_type


class WholeBody(tuple[bytes]):
    """A body in memory sent as a chunked stream of one chunk: what a handler's own
    `Transfer-Encoding: chunked` header makes of its response (Houdini's Response docs:
    Content-Length is set "unless you set the Transfer-Encoding header to chunked")."""

    __slots__ = ()


def wants_chunked(headers: dict[str, tuple[str, str]]) -> bool:
    item = headers.get("transfer-encoding")
    return item is not None and item[1].strip().lower() == "chunked"


class Response:
    """What a handler answers: bytes/str, a file (is_file_name), or an iterable streamed chunked.

    Handlers use Houdini's methods (setHeader(), setStatus(), ...), which keep the response
    consistent. The server reads what they set through public fields, which only those methods
    change: `status_code`, `header_fields` (lower-case name -> (name, value)), `cookie_lines`
    (Set-Cookie values), `body_bytes`, `stream` (an iterable body), `file_path` and
    `deletes_file`, and `is_simple` (see below). Plain slots, not properties: the server reads
    them on every response.
    """

    __slots__ = (
        "body_bytes",
        "cookie_lines",
        "deletes_file",
        "file_path",
        "header_fields",
        "is_simple",
        "status_code",
        "stream",
    )

    def __init__(
        self,
        data: Any = b"",
        status: int = 200,
        content_type: str = "text/html",
        is_file_name: bool = False,
        delete_file: bool = False,
    ) -> None:
        # The common case (a str or bytes body) is kept short: it runs once per request.
        status = self.status_code = status if status.__class__ is int else int(status)
        carries_body = _CARRIES_BODY.get(status)
        if carries_body is None:
            raise _refuse_status(status)
        self.cookie_lines: list[str] | tuple[()] = ()
        self.file_path: str | None = None
        self.deletes_file = False
        self.stream: Iterable[Any] | AsyncIterable[Any] | None = None
        # is_simple: a body in memory, Content-Type its only header, no cookies, a status with a
        # body. Any change that could break that clears it; the server then takes the long way.
        if data.__class__ is str and not is_file_name:
            self.body_bytes = data.encode("utf-8")
            content_type = _TEXT_TYPES.get(content_type) or text_content_type(content_type)
            self.is_simple = carries_body
        elif data.__class__ is bytes and not is_file_name:
            self.body_bytes = data
            if content_type not in _TEXT_TYPES:
                text_content_type(content_type)  # checks it (once per type)
            self.is_simple = carries_body
        elif is_file_name:
            self.is_simple = False
            self.body_bytes = b""
            content_type = checked_content_type(content_type)
            self.file_path = os.fspath(data)
            self.deletes_file = bool(delete_file)
        else:
            self.is_simple = False
            self._set_data(data)
            if isinstance(data, str):
                content_type = text_content_type(content_type)
            else:
                content_type = checked_content_type(content_type)
        self.header_fields: dict[str, tuple[str, str]] = {
            "content-type": ("Content-Type", content_type)
        }

    def __repr__(self) -> str:
        return f"<Response {self.status_code}>"

    def _set_data(self, data: Any) -> None:
        self.stream = None
        if isinstance(data, bytes):
            self.body_bytes = data
        elif isinstance(data, str):
            self.body_bytes = data.encode("utf-8")
        elif isinstance(data, (bytearray, memoryview)):
            self.body_bytes = bytes(data)
        elif data is None:
            self.body_bytes = b""
        elif isinstance(data, (Iterable, AsyncIterable)):
            self.body_bytes = b""
            self.stream = data
        else:
            raise TypeError(f"a response body must be bytes, str or an iterable, not {type(data)}")

    # -- headers ------------------------------------------------------------------------
    def setHeader(self, name: str, value: Any) -> None:
        """Set a header field, replacing one of the same name. A name that is not an RFC 9110 token, or
        a value with a control character (CR, LF, NUL, ...), raises `ValueError`."""
        value = str(value)
        check_header(name, value)
        lowered = name.lower()
        if lowered == "set-cookie":
            self._add_cookie(value)
        else:
            if lowered != "content-type":
                self.is_simple = False
            self.header_fields[lowered] = (name, value)
            if lowered == "transfer-encoding":
                self._follow_transfer_encoding()

    def _follow_transfer_encoding(self) -> None:
        """A body in memory goes out chunked while the handler's Transfer-Encoding says so."""
        if wants_chunked(self.header_fields):
            if self.stream is None and self.file_path is None:
                self.stream = WholeBody((self.body_bytes,))
        elif isinstance(self.stream, WholeBody):
            self.stream = None

    def headers(self) -> dict[str, str]:
        """The header fields set so far, name -> value."""
        result = {name: value for name, value in self.header_fields.values()}
        if self.cookie_lines:
            result["Set-Cookie"] = ", ".join(self.cookie_lines)
        return result

    def header(self, name: str) -> str | None:
        """(extension) one header's value, case-insensitively."""
        item = self.header_fields.get(name.lower())
        return None if item is None else item[1]

    def removeHeader(self, name: str) -> None:
        """(extension)"""
        self.is_simple = False
        lowered = name.lower()
        self.header_fields.pop(lowered, None)
        if lowered == "transfer-encoding":
            self._follow_transfer_encoding()

    def setCookie(
        self,
        name: str,
        value: str,
        max_age: int | None = None,
        expires: Any = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = None,
    ) -> None:
        cookie = format_set_cookie(
            name, value, max_age, expires, path, domain, secure, httponly, samesite
        )
        check_header_value("Set-Cookie", cookie)  # e.g. a control character in `expires`
        self._add_cookie(cookie)

    def _add_cookie(self, value: str) -> None:
        self.is_simple = False
        cookies = self.cookie_lines
        if not isinstance(cookies, list):  # () until the first cookie: one less list per response
            cookies = self.cookie_lines = []
        cookies.append(value)

    # -- status and body -----------------------------------------------------------------
    def status(self) -> int:
        """The HTTP status code."""
        return self.status_code

    def setStatus(self, status: int) -> None:
        """(extension)"""
        self.status_code = checked_status(status)
        if self.status_code in BODILESS_STATUSES:
            self.is_simple = False

    def statusLabel(self) -> str:
        """The status code's reason phrase: `OK`, `Not Found`, ..."""
        return status_label(self.status_code)

    def body(self) -> bytes:
        """The body held in memory (`b""` for a file or a streamed response)."""
        if self.file_path is not None:
            try:
                with open(self.file_path, "rb") as file:
                    return file.read(_BODY_PREVIEW_SIZE)
            except OSError:
                return b""
        return self.body_bytes

    def contentLength(self) -> int:
        """The body's length in bytes: the file's size for a file response, else the size of
        the body in memory (0 for a streamed body)."""
        if self.file_path is not None:
            try:
                return os.path.getsize(self.file_path)
            except OSError:
                return 0
        return len(self.body_bytes)

    def isChunked(self) -> bool:
        """True when the body goes out with chunked transfer coding (an iterable body)."""
        return self.stream is not None

    def setBody(self, body: Any, content_type: str | None = None) -> None:
        """Replace the body (bytes, str, or an iterable streamed chunked), and its `Content-Type` if
        `content_type` is given."""
        if content_type is not None:  # checked first: a refused type leaves the response as it was
            if isinstance(body, str):
                content_type = text_content_type(content_type)
            else:
                content_type = checked_content_type(content_type)
        self.file_path = None
        self.deletes_file = False
        self.is_simple = False
        self._set_data(body)
        if content_type is not None:
            self.header_fields["content-type"] = ("Content-Type", content_type)
        if "transfer-encoding" in self.header_fields:
            self._follow_transfer_encoding()

    def filePath(self) -> str | None:
        """(extension) the file sent, for a file response."""
        return self.file_path


WebServerResponse = Response

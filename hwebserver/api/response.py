"""The Response object a handler returns."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterable, Iterable
from http import HTTPStatus
from typing import Any

from .cookies import format_set_cookie

_BODY_PREVIEW_SIZE = 65536
# Statuses whose responses have neither a body nor a Content-Length (RFC 9110 6.4.1, 8.6).
BODILESS_STATUSES = frozenset((204, 304))


def status_label(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


_BAD_NAME_CHARACTER = re.compile("[\r\n:\0 \t]")
_GOOD_NAMES: set[str] = set()  # names already checked (a service sets the same few)


def _check_header(name: str, value: str) -> None:
    if name not in _GOOD_NAMES:
        if not name or _BAD_NAME_CHARACTER.search(name):
            raise ValueError(f"invalid header name {name!r}")
        if len(_GOOD_NAMES) < 1024:
            _GOOD_NAMES.add(name)
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"header {name!r}: a value may not contain CR, LF or NUL")


_WITH_CHARSET: dict[str, str] = {}


def with_charset(content_type: str) -> str:
    """A text type without a charset gets '; charset=utf-8', the encoding str bodies are sent in."""
    known = _WITH_CHARSET.get(content_type)
    if known is not None:
        return known
    result = _add_charset(content_type)
    if len(_WITH_CHARSET) < 256:  # a handful of types in practice; never unbounded
        _WITH_CHARSET[content_type] = result
    return result


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


class Response:
    """What a handler answers: bytes/str, a file (is_file_name), or an iterable streamed chunked."""

    __slots__ = (
        "_body",
        "_cookies",
        "_delete_file",
        "_file_path",
        "_headers",
        "_simple",
        "_status",
        "_stream",
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
        self._status = status if status.__class__ is int else int(status)
        self._cookies: list[str] | tuple[()] = ()
        self._file_path: str | None = None
        self._delete_file = False
        self._stream: Iterable[Any] | AsyncIterable[Any] | None = None
        # _simple: a body in memory, Content-Type its only header, no cookies, a status with a
        # body. Any change that could break that clears it; the server then takes the long way.
        if data.__class__ is str and not is_file_name:
            self._body = data.encode("utf-8")
            content_type = _WITH_CHARSET.get(content_type) or with_charset(content_type)
            self._simple = self._status not in BODILESS_STATUSES
        elif data.__class__ is bytes and not is_file_name:
            self._body = data
            self._simple = self._status not in BODILESS_STATUSES
        elif is_file_name:
            self._simple = False
            self._body = b""
            self._file_path = os.fspath(data)
            self._delete_file = bool(delete_file)
        else:
            self._simple = False
            self._set_data(data)
            if isinstance(data, str):
                content_type = with_charset(content_type)
        self._headers: dict[str, tuple[str, str]] = {"content-type": ("Content-Type", content_type)}

    def __repr__(self) -> str:
        return f"<Response {self._status}>"

    def _set_data(self, data: Any) -> None:
        self._stream = None
        if isinstance(data, bytes):
            self._body = data
        elif isinstance(data, str):
            self._body = data.encode("utf-8")
        elif isinstance(data, (bytearray, memoryview)):
            self._body = bytes(data)
        elif data is None:
            self._body = b""
        elif isinstance(data, (Iterable, AsyncIterable)):
            self._body = b""
            self._stream = data
        else:
            raise TypeError(f"a response body must be bytes, str or an iterable, not {type(data)}")

    # -- headers ------------------------------------------------------------------------
    def setHeader(self, name: str, value: Any) -> None:
        value = str(value)
        _check_header(name, value)
        lowered = name.lower()
        if lowered == "set-cookie":
            self._add_cookie(value)
        else:
            if lowered != "content-type":
                self._simple = False
            self._headers[lowered] = (name, value)

    def headers(self) -> dict[str, str]:
        result = {name: value for name, value in self._headers.values()}
        if self._cookies:
            result["Set-Cookie"] = ", ".join(self._cookies)
        return result

    def header(self, name: str) -> str | None:
        """(extension) one header's value, case-insensitively."""
        item = self._headers.get(name.lower())
        return None if item is None else item[1]

    def removeHeader(self, name: str) -> None:
        """(extension)"""
        self._simple = False
        self._headers.pop(name.lower(), None)

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
        self._add_cookie(
            format_set_cookie(
                name, value, max_age, expires, path, domain, secure, httponly, samesite
            )
        )

    def _add_cookie(self, value: str) -> None:
        self._simple = False
        cookies = self._cookies
        if not isinstance(cookies, list):  # () until the first cookie: one less list per response
            cookies = self._cookies = []
        cookies.append(value)

    # -- status and body -----------------------------------------------------------------
    def status(self) -> int:
        return self._status

    def setStatus(self, status: int) -> None:
        """(extension)"""
        self._status = int(status)
        if self._status in BODILESS_STATUSES:
            self._simple = False

    def statusLabel(self) -> str:
        return status_label(self._status)

    def body(self) -> bytes:
        if self._file_path is not None:
            try:
                with open(self._file_path, "rb") as file:
                    return file.read(_BODY_PREVIEW_SIZE)
            except OSError:
                return b""
        return self._body

    def contentLength(self) -> int:
        if self._file_path is not None:
            try:
                return os.path.getsize(self._file_path)
            except OSError:
                return 0
        return len(self._body)

    def isChunked(self) -> bool:
        return self._stream is not None

    def setBody(self, body: Any, content_type: str | None = None) -> None:
        self._file_path = None
        self._delete_file = False
        self._simple = False
        self._set_data(body)
        if content_type is not None:
            if isinstance(body, str):
                content_type = with_charset(content_type)
            self._headers["content-type"] = ("Content-Type", content_type)

    def filePath(self) -> str | None:
        """(extension) the file sent, for a file response."""
        return self._file_path


WebServerResponse = Response

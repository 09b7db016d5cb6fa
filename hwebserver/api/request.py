"""The Request object given to URL handlers, API functions and WebSocket connect()."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urljoin

from .body import BodySource
from .connection import ConnectionInfo
from .cookies import parse_cookie_header
from .errors import OperationFailed
from .forms import has_escapes, plain_pairs
from .headers import Headers, headers_from_raw
from .tempdir import RequestTempDir

if TYPE_CHECKING:
    from .form_data import FormData
    from .uploads import UploadedFile


class Request:
    """One HTTP request. Built by the server; everything is parsed lazily, on first access."""

    __slots__ = (
        "_body",
        "_cookies",
        "_form",
        "_get",
        "_headers",
        "_method",
        "_path",
        "_query",
        "_raw_headers",
        "_responder",
        "_target",
        "_tempdir",
        "_trailers",
        "_version",
        "conn",
    )

    def __init__(
        self,
        conn: ConnectionInfo,
        method: str,
        target: bytes,
        path: str,
        query: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        version: str,
    ) -> None:
        self.conn = conn
        self._method = method
        self._target = target
        self._path = path
        self._query = query
        self._raw_headers = raw_headers
        self._version = version
        self._headers: Headers | None = None
        self._get: dict[str, str] | None = None
        self._cookies: dict[str, str] | None = None
        self._form: FormData | None = None
        self._body: BodySource | None = None
        self._responder: Callable[[Any], None] | None = None
        self._tempdir: RequestTempDir | None = None
        # A chunked body's trailer fields (set by the server when the body ends).
        self._trailers: list[tuple[bytes, bytes]] | None = None

    def __repr__(self) -> str:
        return f"<Request {self._method} {self._path!r}>"

    @property
    def tempdir(self) -> RequestTempDir:
        """The request's temporary directory (spooled body, uploads), made on first use."""
        if self._tempdir is None:
            self._tempdir = RequestTempDir()
        return self._tempdir

    def cleanup(self) -> None:
        """Remove everything the request put on disk (the server calls it when it is done)."""
        if self._tempdir is not None:
            self._tempdir.cleanup()

    # -- the request line -------------------------------------------------------------
    def path(self) -> str:
        return self._path

    def method(self) -> str:
        return self._method

    def protocol(self) -> str:
        return "HTTP/" + self._version

    def queryString(self) -> str:
        return self._query.decode("latin-1")

    def pathWithQueryString(self) -> str:
        query = self.queryString()
        return f"{self._path}?{query}" if query else self._path

    def rawTarget(self) -> bytes:
        """(extension) the request target exactly as sent, percent-encoding included."""
        return self._target

    def GET(self) -> dict[str, str]:
        if self._get is None:
            if has_escapes(self._query):
                # dict() of the pairs keeps the last value of a repeated key (decided).
                self._get = dict(parse_qsl(self.queryString(), keep_blank_values=True))
            else:  # nothing to unquote: what parse_qsl gives, for a fifth of its cost
                self._get = plain_pairs(self.queryString(), {})
        return self._get

    # -- headers ------------------------------------------------------------------------
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = headers_from_raw(self._raw_headers)
        return self._headers

    def trailers(self) -> Headers:
        """(extension) the trailer fields of a chunked body, once it has been received.

        Never merged into headers() (RFC 9110 §6.5.1); fields that must not be trailers
        (Host, Cookie, Authorization, Content-Length, ...) are dropped by the server."""
        return headers_from_raw(self._trailers or [])

    def header(self, name: str, default: str | None = None) -> str | None:
        """(extension) one header value, case-insensitively."""
        value: str | None = self.headers().get(name, default)
        return value

    def raw_header(self, lower_name: bytes) -> bytes | None:
        """(extension) the first value of a header as received, by its lower-case name."""
        size = len(lower_name)
        for name, value in self._raw_headers:
            if len(name) == size and name.lower() == lower_name:
                return value
        return None

    def cookies(self) -> dict[str, str]:
        """Cookie name -> value (percent-decoded); for a repeated name the first one wins."""
        if self._cookies is None:
            cookies: dict[str, str] = {}
            # Read the raw headers: a client that splits its cookies over several Cookie
            # headers must not get them joined with ', ' into one garbled value.
            for name, value in self._raw_headers:
                if len(name) == 6 and name.lower() == b"cookie":
                    parse_cookie_header(value.decode("latin-1"), cookies)
            self._cookies = cookies
        return self._cookies

    def contentType(self) -> str:
        # The first Content-Type, as the server itself reads it (the form parser): the same
        # answer whether or not headers() has been built (which joins repeated values).
        raw = self.raw_header(b"content-type")
        return "" if raw is None else raw.decode("latin-1")

    def contentLength(self) -> int:
        if self._body is not None:
            return self._body.size
        try:
            return int(self.headers().get("Content-Length", 0))
        except ValueError:
            return 0

    def host(self) -> str:
        headers = self.headers()
        if self.conn.port_settings.get("USE_X_FORWARDED_HOST"):
            forwarded = headers.get("X-Forwarded-Host")
            if forwarded:
                return str(forwarded).split(",")[0].strip()
        host: str = headers.get("Host", "")
        return host or f"{self.conn.server[0]}:{self.conn.server[1]}"

    def isSecure(self) -> bool:
        if self.conn.is_tls:
            return True
        # A proxy's X-Forwarded-Proto is trusted only where the port trusts forwarded headers.
        if self.conn.port_settings.get("USE_X_FORWARDED_HOST"):
            proto = self.headers().get("X-Forwarded-Proto", "")
            return str(proto).split(",")[0].strip().lower() == "https"
        return False

    def scheme(self) -> str:
        """(extension) 'https' or 'http'."""
        return "https" if self.isSecure() else "http"

    def absoluteURI(self, location: str | None = None) -> str:
        target = self._target.decode("latin-1")
        if not target.startswith("/"):  # absolute-form target: keep only the path and query
            target = self.pathWithQueryString()
        base = f"{self.scheme()}://{self.host()}{target}"
        return base if location is None else urljoin(base, location)

    # -- connection ---------------------------------------------------------------------
    def port(self) -> int:
        return self.conn.port

    def portName(self) -> str:
        """(extension) the name of the listener ('main' for the main port)."""
        return self.conn.port_name

    def clientAddress(self) -> tuple[str, int]:
        return self.conn.client

    def serverAddress(self) -> tuple[str, int]:
        return self.conn.server

    # -- body and forms -----------------------------------------------------------------
    def body(self) -> bytes:
        """The raw body. A urlencoded or other body is always kept (spooled to disk when large).

        A multipart body is parsed while it streams in, its files stored one by one; its raw
        bytes are also kept only while the body is at most BODY_SPOOL_SIZE (1 MiB) long. For a
        larger one this raises OperationFailed (decided): use POST() and files() instead.
        """
        return b"" if self._body is None else self._body.getvalue()

    def POST(self) -> dict[str, str]:
        return self._form_data().fields

    def files(self) -> dict[str, UploadedFile]:
        return self._form_data().files

    def _form_data(self) -> FormData:
        if self._form is None:
            from .forms import parse_form

            self._form = parse_form(self._body, self.contentType(), self.tempdir)
        return self._form

    # -- answering (AsyncURLHandler) -----------------------------------------------------
    def send(self, response: Any) -> None:
        responder = self._responder
        if responder is None:
            raise OperationFailed("this request cannot be answered with send() (already answered?)")
        self._responder = None
        responder(response)


WebServerRequest = Request

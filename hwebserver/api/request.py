"""The Request object given to URL handlers, API functions and WebSocket connect()."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urljoin

from .errors import OperationFailed
from .internal.body import BodySource
from .internal.connection import ConnectionInfo
from .internal.cookies import parse_cookie_header
from .internal.forms import has_escapes, plain_pairs
from .internal.headers import Headers, headers_from_raw
from .internal.tempdir import RequestTempDir

if TYPE_CHECKING:
    from .internal.form_data import FormData
    from .uploads import UploadedFile


class Request:
    """One HTTP request. Built by the server; everything is parsed lazily, on first access.

    Handlers use Houdini's methods (path(), method(), headers(), ...). The server reads the
    request head through public fields, read-only (Final) once the request is built:
    `http_method`, `target` (raw, as sent), `url_path` (percent-decoded and normalised: what
    routing matched), `query` (raw), `raw_headers` (as received), `http_version` ('1.1' or
    '1.0'). What the server attaches
    while the request is received is public too: `body_source`, `parsed_form` (a form parsed
    while it arrived), `trailer_fields`, `responder` (AsyncURLHandler), `made_tempdir`
    (None until tempdir is first used). Plain slots, not properties: the server reads them on
    every request.
    """

    __slots__ = (
        "_cookies",
        "_get",
        "_headers",
        "body_source",
        "conn",
        "http_method",
        "http_version",
        "made_tempdir",
        "parsed_form",
        "query",
        "raw_headers",
        "request_id",
        "responder",
        "target",
        "trailer_fields",
        "url_path",
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
        self.http_method: Final = method
        self.target: Final = target
        self.url_path: Final = path
        self.query: Final = query
        self.raw_headers: Final = raw_headers
        self.http_version: Final = version
        self._headers: Headers | None = None
        self._get: dict[str, str] | None = None
        self._cookies: dict[str, str] | None = None
        self.parsed_form: FormData | None = None
        self.body_source: BodySource | None = None
        self.responder: Callable[[Any], None] | None = None
        self.made_tempdir: RequestTempDir | None = None
        # A chunked body's trailer fields (set by the server when the body ends).
        self.trailer_fields: list[tuple[bytes, bytes]] | None = None
        # (extension) With ACCESS_LOG_FORMAT "json": X-Request-Id as sent, or one generated;
        # it is in the access line and the response's X-Request-Id. None otherwise.
        self.request_id: str | None = None

    def __repr__(self) -> str:
        return f"<Request {self.http_method} {self.url_path!r}>"

    @property
    def tempdir(self) -> RequestTempDir:
        """The request's temporary directory (spooled body, uploads), made on first use."""
        if self.made_tempdir is None:
            self.made_tempdir = RequestTempDir()
        return self.made_tempdir

    def cleanup(self) -> None:
        """Remove everything the request put on disk (the server calls it when it is done)."""
        if self.made_tempdir is not None:
            self.made_tempdir.cleanup()

    # -- the request line -------------------------------------------------------------
    def path(self) -> str:
        """The URL path, percent-decoded, without the query string: `/items/a b`.

        The path the request was routed on: as sent, once decoded and normalised (dot
        segments removed, repeated slashes merged: `/a/./b//c/../d` is `/a/b/d`). The
        target exactly as sent is `rawTarget()`.
        """
        return self.url_path

    def method(self) -> str:
        """The HTTP method: `GET`, `POST`, ..."""
        return self.http_method

    def protocol(self) -> str:
        """The protocol version the client used: `HTTP/1.1` or `HTTP/1.0`."""
        return "HTTP/" + self.http_version

    def queryString(self) -> str:
        """The query string as sent, without the `?` (still percent-encoded)."""
        return self.query.decode("latin-1")

    def pathWithQueryString(self) -> str:
        """The path followed by `?` and the query string when there is one."""
        query = self.queryString()
        return f"{self.url_path}?{query}" if query else self.url_path

    def rawTarget(self) -> bytes:
        """(extension) the request target exactly as sent, percent-encoding included."""
        return self.target

    def GET(self) -> dict[str, str]:
        """The query string's parameters, name -> value (percent-decoded; for a repeated name the last
        one wins)."""
        if self._get is None:
            if has_escapes(self.query):
                # dict() of the pairs keeps the last value of a repeated key (decided).
                self._get = dict(parse_qsl(self.queryString(), keep_blank_values=True))
            else:  # nothing to unquote: what parse_qsl gives, for a fifth of its cost
                self._get = plain_pairs(self.queryString(), {})
        return self._get

    # -- headers ------------------------------------------------------------------------
    def headers(self) -> Headers:
        """The request's header fields, looked up case-insensitively (`headers()["content-type"]`);
        repeated fields are joined with `, `."""
        if self._headers is None:
            self._headers = headers_from_raw(self.raw_headers)
        return self._headers

    def trailers(self) -> Headers:
        """(extension) the trailer fields of a chunked body, once it has been received.

        Never merged into headers() (RFC 9110 §6.5.1); fields that must not be trailers
        (Host, Cookie, Authorization, Content-Length, ...) are dropped by the server."""
        return headers_from_raw(self.trailer_fields or [])

    def header(self, name: str, default: str | None = None) -> str | None:
        """(extension) one header value, case-insensitively."""
        value: str | None = self.headers().get(name, default)
        return value

    def raw_header(self, lower_name: bytes) -> bytes | None:
        """(extension) the first value of a header as received, by its lower-case name."""
        size = len(lower_name)
        for name, value in self.raw_headers:
            if len(name) == size and name.lower() == lower_name:
                return value
        return None

    def cookies(self) -> dict[str, str]:
        """Cookie name -> value (percent-decoded); for a repeated name the first one wins."""
        if self._cookies is None:
            cookies: dict[str, str] = {}
            # Read the raw headers: a client that splits its cookies over several Cookie
            # headers must not get them joined with ', ' into one garbled value.
            for name, value in self.raw_headers:
                if len(name) == 6 and name.lower() == b"cookie":
                    parse_cookie_header(value.decode("latin-1"), cookies)
            self._cookies = cookies
        return self._cookies

    def contentType(self) -> str:
        """The `Content-Type` header (its first value), or `""`."""
        # The first Content-Type, as the server itself reads it (the form parser): the same
        # answer whether or not headers() has been built (which joins repeated values).
        raw = self.raw_header(b"content-type")
        return "" if raw is None else raw.decode("latin-1")

    def contentLength(self) -> int:
        """The body's length in bytes: `Content-Length`, or the size received for a chunked body; 0
        without a body."""
        if self.body_source is not None:
            return self.body_source.size
        try:
            return int(self.headers().get("Content-Length", 0))
        except ValueError:
            return 0

    def host(self) -> str:
        """The host the client asked for (`Host`, or `X-Forwarded-Host` where the port sets
        `USE_X_FORWARDED_HOST`), port included if it was sent."""
        headers = self.headers()
        if self.conn.trusts_forwarded:
            forwarded = headers.get("X-Forwarded-Host")
            if forwarded:
                return str(forwarded).split(",")[0].strip()
        host: str = headers.get("Host", "")
        return host or f"{self.conn.server[0]}:{self.conn.server[1]}"

    def isSecure(self) -> bool:
        """True over TLS, or with `X-Forwarded-Proto: https` where the port sets
        `USE_X_FORWARDED_HOST`."""
        if self.conn.is_tls:
            return True
        # A proxy's X-Forwarded-Proto is trusted only where the port trusts forwarded headers.
        if self.conn.trusts_forwarded:
            proto = self.headers().get("X-Forwarded-Proto", "")
            return str(proto).split(",")[0].strip().lower() == "https"
        return False

    def scheme(self) -> str:
        """(extension) 'https' or 'http'."""
        return "https" if self.isSecure() else "http"

    def absoluteURI(self, location: str | None = None) -> str:
        """The request's absolute URL, or `location` resolved against it: `absoluteURI("/login")` ->
        `https://example.com/login`."""
        target = self.target.decode("latin-1")
        if not target.startswith("/"):  # absolute-form target: keep only the path and query
            target = self.pathWithQueryString()
        base = f"{self.scheme()}://{self.host()}{target}"
        return base if location is None else urljoin(base, location)

    # -- connection ---------------------------------------------------------------------
    def port(self) -> int:
        """The port number of the listener that received the request."""
        return self.conn.port

    def portName(self) -> str:
        """(extension) the name of the listener ('main' for the main port)."""
        return self.conn.port_name

    def clientAddress(self) -> tuple[str, int]:
        """The client's `(address, port)` (the proxy's, behind a reverse proxy)."""
        return self.conn.client

    def serverAddress(self) -> tuple[str, int]:
        """The `(address, port)` the connection was accepted on."""
        return self.conn.server

    # -- body and forms -----------------------------------------------------------------
    def body(self) -> bytes:
        """The raw body. A urlencoded or other body is always kept (spooled to disk when large).

        A multipart body is parsed while it streams in, its files stored one by one; its raw
        bytes are also kept only while the body is at most BODY_SPOOL_SIZE (1 MiB) long. For a
        larger one this raises OperationFailed (decided): use POST() and files() instead.
        """
        return b"" if self.body_source is None else self.body_source.getvalue()

    def POST(self) -> dict[str, str]:
        """The form fields of a `application/x-www-form-urlencoded` or `multipart/form-data` body, name
        -> value; parsed while the body streamed in."""
        return self._form_data().fields

    def files(self) -> dict[str, UploadedFile]:
        """The uploaded files of a `multipart/form-data` body, form field name -> `UploadedFile`."""
        return self._form_data().files

    def _form_data(self) -> FormData:
        if self.parsed_form is None:
            from .internal.forms import parse_form

            self.parsed_form = parse_form(self.body_source, self.contentType(), self.tempdir)
        return self.parsed_form

    # -- answering (AsyncURLHandler) -----------------------------------------------------
    def send(self, response: Any) -> None:
        """Answer the request (from an `AsyncURLHandler`): from the event loop or any thread, at most
        once; a second call raises `OperationFailed`."""
        responder = self.responder
        if responder is None:
            raise OperationFailed("this request cannot be answered with send() (already answered?)")
        self.responder = None
        responder(response)


WebServerRequest = Request

"""CORS_ORIGIN_WHITELIST (alias CORS_ALLOWED_ORIGINS): cross-origin access for listed origins.

- A preflight (OPTIONS with Origin and Access-Control-Request-Method) from an allowed origin
  is answered by the server, 204 with Access-Control-Allow-Origin/-Methods/-Headers/-Max-Age;
  from any other origin, 403 without them (the browser then refuses the real request).
- Any other response to an allowed origin gets Access-Control-Allow-Origin.
- Every response of the port gets `Vary: Origin`, since what it says depends on Origin.
- A WebSocket upgrade from an origin not listed gets 403 (browsers apply no CORS to
  WebSockets: the server must refuse them itself); one without Origin is not from a browser.

Origins compare by scheme, host and port ("https://a.example" equals
"https://A.example:443"); "*" allows every origin and answers `Access-Control-Allow-Origin: *`.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from ...api.helpers import errorResponse
from ...api.request import Request
from ...api.response import Response
from .base import PortPolicy

ALLOWED_METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
MAX_AGE_SECONDS = 86400
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def normalise_origin(origin: str) -> str | None:
    """'HTTPS://A.example:443/' -> 'https://a.example'; None for what is not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def _token_list(value: str) -> str:
    """Header names requested by a preflight, kept only when they are well-formed tokens."""
    names = [name.strip() for name in value.split(",")]
    return ", ".join(name for name in names if name and set(name) <= _TOKEN_CHARS)


def add_vary(response: Response, name: str) -> None:
    current = response.header("Vary")
    if not current:
        response.setHeader("Vary", name)
        return
    listed = {part.strip().lower() for part in current.split(",")}
    if name.lower() not in listed and "*" not in listed:
        response.setHeader("Vary", f"{current}, {name}")


class CorsPolicy(PortPolicy):
    def __init__(self, origins: Iterable[str]) -> None:
        origins = list(origins)
        self.allow_all = "*" in origins
        self.origins = frozenset(
            normalised for normalised in map(normalise_origin, origins) if normalised
        )

    def allowed_origin(self, request: Request) -> str | None:
        """The Access-Control-Allow-Origin value for this request, or None."""
        origin = request.headers().get("Origin")
        if not origin:
            return None
        if self.allow_all:
            return "*"
        normalised = normalise_origin(origin)
        return origin if normalised is not None and normalised in self.origins else None

    def before(self, request: Request) -> Response | None:
        if request.http_method != "OPTIONS":
            return None
        headers = request.headers()
        if "Origin" not in headers or "Access-Control-Request-Method" not in headers:
            return None  # a plain OPTIONS request: the handlers answer it
        allowed = self.allowed_origin(request)
        if allowed is None:
            return errorResponse(request, "CORS: origin not allowed", 403)
        response = Response(b"", status=204)
        response.removeHeader("Content-Type")
        response.setHeader("Access-Control-Allow-Methods", ALLOWED_METHODS)
        requested = _token_list(headers.get("Access-Control-Request-Headers", ""))
        if requested:
            response.setHeader("Access-Control-Allow-Headers", requested)
        response.setHeader("Access-Control-Max-Age", str(MAX_AGE_SECONDS))
        return response  # after() adds Allow-Origin and Vary

    def before_upgrade(self, request: Request) -> Response | None:
        """A WebSocket from an Origin not on the list: 403 (cross-site WebSocket hijacking; a
        browser enforces no CORS on WebSockets). No Origin at all is not a browser: allowed."""
        if self.allow_all:
            return None
        origin = request.headers().get("Origin")
        if origin is None:
            return None
        normalised = normalise_origin(origin)
        if normalised is not None and normalised in self.origins:
            return None
        return errorResponse(request, "Origin not allowed", 403)

    def after(self, request: Request, response: Response) -> None:
        allowed = self.allowed_origin(request)
        if allowed is not None:
            response.setHeader("Access-Control-Allow-Origin", allowed)
        add_vary(response, "Origin")

    def header_lines(self, request: Request) -> list[tuple[bytes, bytes]]:
        lines = [(b"vary", b"Vary: Origin\r\n")]
        allowed = self.allowed_origin(request)
        if allowed is not None:
            line = b"Access-Control-Allow-Origin: " + allowed.encode("latin-1") + b"\r\n"
            lines.append((b"access-control-allow-origin", line))
        return lines

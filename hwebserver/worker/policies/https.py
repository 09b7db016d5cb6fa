"""SSL_REDIRECT and HSTS, with the meaning Django's SecurityMiddleware gives them.

- SSL_REDIRECT: a request that is not secure (see Request.isSecure) gets 301 to
  https://SSL_REDIRECT_HOST-or-its-own-host/same/path?query, unless its path (without the
  leading '/') matches one of the SSL_REDIRECT_EXEMPT regular expressions (re.search).
- SECURE_HSTS_SECONDS > 0: secure responses get Strict-Transport-Security with that max-age,
  plus includeSubDomains / preload when asked; plain-HTTP responses never do (RFC 6797 7.2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

from ...api.helpers import errorResponse
from ...api.request import Request
from ...api.response import Response
from ..common.targets import request_path_bytes
from .base import PortPolicy
from .hosts import host_name


def compile_exemptions(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ValueError(
                f"SSL_REDIRECT_EXEMPT: invalid regular expression {pattern!r}: {exc}"
            ) from None
    return tuple(compiled)


class SslRedirect(PortPolicy):
    def __init__(self, host: str | None, exempt: tuple[re.Pattern[str], ...]) -> None:
        self.host = host or None
        self.exempt = exempt

    def before(self, request: Request) -> Response | None:
        if request.isSecure():
            return None
        path = request.path()
        relative = path.lstrip("/")
        if any(pattern.search(relative) for pattern in self.exempt):
            return None
        host = self.host or request.host()
        if host_name(host) is None:  # never build a Location from a malformed Host
            return errorResponse(request, "Bad Request: malformed Host header", 400)
        response = Response(b"", status=301)
        response.setHeader("Location", f"https://{host}{_path_and_query(request)}")
        return response


def _path_and_query(request: Request) -> str:
    """The path and query as the client sent them (still percent-encoded)."""
    raw = request_path_bytes(request.rawTarget())
    path = (
        raw.decode("latin-1") if raw is not None else quote(request.path(), safe="/%:@!$&'()*+,;=")
    )
    query = request.queryString()
    return f"{path}?{query}" if query else path


def hsts_value(seconds: int, include_subdomains: bool, preload: bool) -> str:
    value = f"max-age={seconds}"
    if include_subdomains:
        value += "; includeSubDomains"
    if preload:
        value += "; preload"
    return value


class Hsts(PortPolicy):
    def __init__(self, seconds: int, include_subdomains: bool, preload: bool) -> None:
        if seconds < 0:
            raise ValueError(f"SECURE_HSTS_SECONDS must be 0 or more, not {seconds}")
        self.value = hsts_value(seconds, include_subdomains, preload)
        self.line = b"Strict-Transport-Security: " + self.value.encode("ascii") + b"\r\n"

    def after(self, request: Request, response: Response) -> None:
        if request.isSecure() and response.header("Strict-Transport-Security") is None:
            response.setHeader("Strict-Transport-Security", self.value)

    def header_lines(self, request: Request) -> list[tuple[bytes, bytes]]:
        if not request.isSecure():
            return []
        return [(b"strict-transport-security", self.line)]

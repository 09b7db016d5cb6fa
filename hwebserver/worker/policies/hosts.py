"""ALLOWED_HOSTS: which Host header values a port answers (Django's rules), others get 400.

Entries: "*" (any host), ".example.com" (example.com and every subdomain), or an exact
name ("example.com", "127.0.0.1", "[::1]"). Matching ignores case, a trailing dot and the
port. An empty list allows only the loopback names (localhost, 127.0.0.1, [::1]), as
Django does in debug mode. The host checked is Request.host(), i.e. X-Forwarded-Host when
the port sets USE_X_FORWARDED_HOST.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ...api.helpers import errorResponse
from ...api.request import Request
from ...api.response import Response
from .base import PortPolicy

LOOPBACK_HOSTS = (".localhost", "127.0.0.1", "[::1]")

_HOST = re.compile(r"^([a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9.:]+\])(:\d+)?$")


def host_name(header: str) -> str | None:
    """The lower-cased host of a Host value without its port; None when it is malformed."""
    value = header.strip().lower()
    match = _HOST.match(value)
    if match is None:
        return None
    name = match.group(1)
    return name[:-1] if name.endswith(".") else name


def host_matches(name: str, pattern: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("."):
        return name == pattern[1:] or name.endswith(pattern)
    return name == pattern


class AllowedHosts(PortPolicy):
    """Answers 400 before any handler when the request's host is not on the list."""

    def __init__(self, patterns: Iterable[str]) -> None:
        cleaned = [p.strip().lower().rstrip(".") for p in patterns if p.strip()]
        self.patterns = tuple(cleaned) if cleaned else LOOPBACK_HOSTS
        self.allow_all = "*" in self.patterns

    def allows(self, host: str) -> bool:
        if self.allow_all:
            return True
        name = host_name(host)
        return name is not None and any(host_matches(name, p) for p in self.patterns)

    def before(self, request: Request) -> Response | None:
        host = request.host()
        if self.allows(host):
            return None
        return errorResponse(request, f"Bad Request: the host {host!r} is not allowed", 400)

"""Per-port request policies from the port's settings (allowed hosts, CORS, TLS redirects, HSTS).

A listener whose settings need none of them gets no policy, and requests pay nothing.
"""

from __future__ import annotations

from typing import Any

from ..api.request import Request
from ..api.response import Response


class PortPolicy:
    """before() may answer a request itself (e.g. 400 for a Host not allowed); after() may add
    headers to every response of the port."""

    def before(self, request: Request) -> Response | None:
        return None

    def after(self, request: Request, response: Response) -> None:
        return None


def build_policy(settings: dict[str, Any]) -> PortPolicy | None:
    return None

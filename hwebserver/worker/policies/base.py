"""The shape of a per-port policy (see build.py): hooks before dispatch and after.

The gate (worker/http/gate.py) calls before() for every HTTP request of the port and
before_upgrade() for every WebSocket upgrade, before anything serves them. after() adds the
policy's headers to a Response; header_lines() gives the same headers to the WSGI and ASGI
adapters, which write their apps' heads themselves.
"""

from __future__ import annotations

from ...api.request import Request
from ...api.response import Response


class PortPolicy:
    """before() may answer a request itself (e.g. 400 for a Host not allowed); after() may add
    headers to every response of the port."""

    def before(self, request: Request) -> Response | None:
        return None

    def before_upgrade(self, request: Request) -> Response | None:
        """A WebSocket upgrade request: refused as before() refuses, unless told otherwise."""
        return self.before(request)

    def after(self, request: Request, response: Response) -> None:
        return None

    def header_lines(self, request: Request) -> list[tuple[bytes, bytes]]:
        """after()'s headers for an app's response: (lower-case name, the whole line). An app
        that sets a header of that name keeps its own (Vary excepted: a list, lines add up)."""
        return []

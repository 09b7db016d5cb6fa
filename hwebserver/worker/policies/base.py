"""The shape of a per-port policy (see build.py): a hook before dispatch and one after."""

from __future__ import annotations

from ...api.request import Request
from ...api.response import Response


class PortPolicy:
    """before() may answer a request itself (e.g. 400 for a Host not allowed); after() may add
    headers to every response of the port."""

    def before(self, request: Request) -> Response | None:
        return None

    def after(self, request: Request, response: Response) -> None:
        return None

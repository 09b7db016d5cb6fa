"""Request ids (ACCESS_LOG_FORMAT "json"): each request keeps the X-Request-Id its client (a
load balancer, a proxy) sent, or gets one; the id is `request.request_id`, the response's
X-Request-Id header and a field of the JSON access line, so one request can be followed
from the balancer's log to the handler's.

A port policy (see policy.py) wrapping the port's own, so services in the text format pay
nothing.
"""

from __future__ import annotations

import itertools
import re
import secrets
from typing import TYPE_CHECKING

from ...api.request import Request
from ...api.response import Response
from .base import PortPolicy

if TYPE_CHECKING:
    from ..common.config import Listener
    from ..common.state import WorkerState

# What is kept of a client's id: visible ASCII, bounded; anything else is replaced, so an id
# can neither split a header nor flood a log line.
ACCEPTABLE_ID = re.compile(r"[\x21-\x7e]{1,200}")
HEADER = b"x-request-id"


class RequestIds(PortPolicy):
    """Ids are a random prefix per worker and a counter: unique, and cheap to make."""

    def __init__(self, inner: PortPolicy | None) -> None:
        self.inner = inner
        self.prefix = secrets.token_hex(6)
        self.counter = itertools.count(1)

    def before(self, request: Request) -> Response | None:
        sent = request.raw_header(HEADER)
        if sent is not None:
            text = sent.decode("latin-1")
            if ACCEPTABLE_ID.fullmatch(text):
                request.request_id = text
        if request.request_id is None:
            request.request_id = f"{self.prefix}-{next(self.counter):x}"
        return self.inner.before(request) if self.inner is not None else None

    def after(self, request: Request, response: Response) -> None:
        if self.inner is not None:
            self.inner.after(request, response)
        if request.request_id is not None:
            response.setHeader("X-Request-Id", request.request_id)


def install(state: WorkerState, listeners: list[Listener]) -> None:
    """At worker start, after the ports' policies are built."""
    if state.config.server.ACCESS_LOG_FORMAT != "json":
        return
    state.log.json_access = True
    for listener in listeners:
        listener.policy = RequestIds(listener.policy)

"""Where the bytes of a request body go while they arrive: the body sink of a request.

The default sink keeps the body (in memory, spooled to disk when large). Form bodies may be
parsed while they stream in; the protocol only calls append(), finish() and close().
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..api.body import RequestBody
from ..api.request import Request

if TYPE_CHECKING:
    from .state import WorkerState


class BodySink(Protocol):
    size: int

    def append(self, data: bytes) -> None: ...

    def finish(self) -> None: ...

    def close(self) -> None: ...


def open_body_sink(state: WorkerState, request: Request) -> BodySink:
    """Called at the first body byte of a request; the sink decides what to keep."""
    body = RequestBody(state.spool_size, request.tempdir)
    request._body = body
    return body

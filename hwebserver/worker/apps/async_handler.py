"""Running an AsyncURLHandler: handle(request) answers with request.send(response).

The handler gets its own view of the request (a copy sharing everything but the responder).
The responder lives only in that view, so when nothing refers to the view any more (handle()
returned, and whatever work it scheduled is over) and it never sent, a finalizer answers 500
and logs it. This is deterministic in CPython: the moment the last reference goes.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from ...api.errors import OperationFailed
from ...api.request import Request
from ..http import user_tasks
from ..http.error_responses import error_response

if TYPE_CHECKING:
    from ..http.gate import AdmittedRoute
    from ..http.seams import Connection


class _Answer:
    """Whether the request was answered; shared by the responder and its finalizer."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


class Responder:
    """request._responder of an AsyncURLHandler's request: callable once, from any thread."""

    __slots__ = ("__weakref__", "answer", "loop", "loop_thread", "protocol", "request")

    def __init__(self, protocol: Connection, request: Request, answer: _Answer) -> None:
        self.protocol = protocol
        self.request = request
        self.answer = answer
        self.loop = protocol.loop
        self.loop_thread = threading.get_ident()

    def __call__(self, response: Any) -> None:
        if self.answer.sent:
            raise OperationFailed("this request was already answered")
        self.answer.sent = True
        if threading.get_ident() == self.loop_thread:
            self.protocol.respond(self.request, response)
        else:
            self.loop.call_soon_threadsafe(self.protocol.respond, self.request, response)


def _view_of(request: Request) -> Request:
    view = Request.__new__(Request)
    for name in Request.__slots__:
        setattr(view, name, getattr(request, name))
    return view


def start(protocol: Connection, route: AdmittedRoute, request: Request) -> None:
    handle = route.endpoint  # the instance's bound handle()
    answer = _Answer()
    view = _view_of(request)
    responder = Responder(protocol, request, answer)
    view.responder = responder
    name = type(getattr(handle, "__self__", handle)).__name__
    weakref.finalize(responder, _unanswered, protocol, request, answer, name)
    del responder
    try:
        coro = handle(view)
    except Exception as exc:  # a handle() that cannot be called with a request
        _ended((protocol, request, answer), exc, None)
        return
    # No reference to the view from here on: holding it would keep the request "in use".
    del view
    user_tasks.start(
        protocol.loop,
        protocol.base_context.copy(),
        coro,
        _ended,
        (protocol, request, answer),
        "AsyncURLHandler.handle",
    )


def _ended(
    pending: tuple[Connection, Request, _Answer], exc: BaseException | None, _result: Any
) -> None:
    """handle() ended (user_tasks.start): a failure is answered 500 if nothing was sent."""
    if exc is None:
        return  # it returned: it sent its answer, or will (or the finalizer answers 500)
    protocol, request, answer = pending
    state = protocol.state
    state.log.request_failed("handler", request, exc)
    if answer.sent:
        return
    answer.sent = True  # a late send() raises OperationFailed
    protocol.respond(request, error_response(request, exc, state.debug))


def _unanswered(protocol: Connection, request: Request, answer: _Answer, name: str) -> None:
    """Finalizer (any thread): the handler's request is gone and nobody sent a response."""
    if answer.sent:
        return
    answer.sent = True

    def respond() -> None:
        state = protocol.state
        state.log.error(
            "%s for %s %s finished without sending a response: answered 500",
            name,
            request.http_method,
            request.url_path,
        )
        protocol.respond(request, error_response(request, None, state.debug))

    try:
        protocol.loop.call_soon_threadsafe(respond)
    except RuntimeError:
        pass  # the loop is closed: the connection is gone with it

"""The face of a session (session.py) that hwebserver's WebSocket classes see
(api/websocket.py): the session is the channel of the WebSocket instance, and one task per
connection runs its code.

That task, as Django Channels runs a consumer, calls connect(); then receive() once per
message, strictly in order, each call ending before the next message is taken (a receive()
that waits holds the messages behind it, and the inbox's marks pause reading); then, once the
TCP connection is closed, disconnect(code). So asyncio.current_task() is the connection's
task in all of them, and a message costs no task of its own. A handler that raises closes
its connection with 1011; the connection stays in state.connections until disconnect() has
returned, so a worker's drain waits for it.
"""

from __future__ import annotations

import asyncio
import inspect
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from websockets.protocol import OPEN

from ...api.helpers import errorResponse
from ...api.internal.tracebacks import contained
from ...api.websocket import WebSocketClosed, WebSocketEndpoint
from ..http import user_tasks
from ..http.error_responses import error_response
from .session import Session

if TYPE_CHECKING:
    from websockets.http11 import Response as HandshakeResponse
    from websockets.server import ServerProtocol

    from ...api.request import Request
    from ..http.seams import Connection


class HoudiniWebSocket(Session):
    """A session served by a registered WebSocket class."""

    holds_registration = True
    __slots__ = ("endpoint",)

    def __init__(
        self,
        http: Connection,
        request: Request,
        endpoint: WebSocketEndpoint,
        protocol: ServerProtocol,
        handshake: HandshakeResponse,
        trailing: bytes,
    ) -> None:
        super().__init__(http, request, protocol, handshake, trailing)
        self.endpoint = endpoint

    def start(self) -> None:
        self.run(self._serve(), f"WebSocket {self.endpoint.cls.__qualname__}")

    async def _serve(self) -> None:
        """The connection's task: connect(), each receive(), disconnect()."""
        endpoint = self.endpoint
        task = asyncio.current_task()
        assert task is not None
        socket = endpoint()
        socket.attach(self, self.request)
        try:
            await endpoint.connect(socket, self.request)
        except BaseException as exc:
            self._connect_failed(_users(exc))
        if task.cancelling():
            await _absorb_own_cancel(task)
        if not self.accepted and not self.refused:
            self.refuse(errorResponse(self.request, "WebSocket connection refused", 403))
        receive = endpoint.receive
        inbox = self.inbox
        loop = self.loop
        while True:
            # next_message() inlined: a message costs no coroutine of ours.
            if not inbox:
                if self.lost:
                    break
                self.waiter = waiter = loop.create_future()
                await waiter  # _enqueue() and connection_lost() wake it
                continue
            message = self.take()
            try:
                result: Any = receive(socket, message)
                if result.__class__ is CoroutineType or inspect.isawaitable(result):
                    await result
            except BaseException as exc:
                self._receive_failed(_users(exc))
            if task.cancelling():
                await _absorb_own_cancel(task)
        if self.accepted:
            try:
                await endpoint.disconnect(socket, self.close_code())
            except BaseException as exc:
                self._log("disconnect", _users(exc))
        self.finish()

    def _connect_failed(self, error: BaseException) -> None:
        if isinstance(error, WebSocketClosed):
            return  # the client left, or the server is shutting down
        self._log("connect", error)
        if self.accepted:
            self.discard_messages()
        elif not self.refused:
            self.refuse(error_response(self.request, error, self.state.debug))

    def _receive_failed(self, error: BaseException) -> None:
        if isinstance(error, WebSocketClosed) and (self.lost or self.ws.state is not OPEN):
            # It sent on this connection, which is closing: not the handler's fault. The
            # messages still waiting arrived before the close and are delivered.
            return
        self._log("receive", error)
        self.discard_messages()

    def _log(self, method: str, error: BaseException) -> None:
        self.log_error(f"WebSocket {self.endpoint.cls.__qualname__}.{method}", error)


def _users(exc: BaseException) -> BaseException:
    """What the handler's code raised, as the server takes it (see tracebacks.contained).
    A GeneratorExit of the task being closed goes on up (one the code raised is its failure).
    A cancellation of the task that the code asked for and did not catch ends with that code:
    the task goes on."""
    if user_tasks.closed_from_outside(exc):
        raise exc
    if isinstance(exc, asyncio.CancelledError):
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            task.uncancel()
    return contained(exc)


async def _absorb_own_cancel(task: asyncio.Task[None]) -> None:
    """The code cancelled its own task and returned without letting it end that code (or
    caught it without uncancel()): that cancellation was meant for the code, not for the
    connection. It is taken here, at an await of ours, before the next message."""
    try:
        await asyncio.sleep(0)
    except asyncio.CancelledError:
        pass
    while task.cancelling():
        task.uncancel()

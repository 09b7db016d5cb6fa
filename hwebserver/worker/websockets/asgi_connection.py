"""The face of a session (session.py) that a mounted ASGI app sees: ASGI `websocket.*`
messages. upgrade.py sends here an upgrade whose path falls under an ASGI mount and has no
registered WebSocket class.

The app runs in one task for the connection (the session's). websocket.disconnect comes once
the client's Close frame arrived or the connection is gone; the connection leaves
state.connections when its transport goes (the app may still be running then).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...api.helpers import errorResponse
from ...api.internal.headers import check_header
from ...api.internal.tracebacks import contained, without_server_frames
from ...api.websocket import WebSocketClosed
from ..apps.asgi import base_scope, late_lifespan, ready_lifespan, with_lifespan_state
from ..http import user_tasks
from ..http.streaming_body import ClientDisconnected
from .session import Session

if TYPE_CHECKING:
    from websockets.http11 import Response as HandshakeResponse
    from websockets.server import ServerProtocol

    from ...api.request import Request
    from ..http.gate import AdmittedRoute
    from ..http.seams import Connection


class AsgiWebSocket(Session):
    """One WebSocket connection served by an ASGI app."""

    holds_registration = False
    ends_at_close_frame = True
    __slots__ = ("app", "connected_sent", "disconnected", "route")

    def __init__(
        self,
        http: Connection,
        route: AdmittedRoute,
        request: Request,
        protocol: ServerProtocol,
        handshake: HandshakeResponse,
        trailing: bytes,
    ) -> None:
        super().__init__(http, request, protocol, handshake, trailing)
        self.app = route.endpoint
        self.route = route
        self.connected_sent = False
        self.disconnected: dict[str, Any] | None = None  # the disconnect the app received

    def start(self) -> None:
        self.http.active = self.request  # busy: no idle timeout, nothing else is dispatched
        scheme = "wss" if self.request.isSecure() else "ws"
        scope = base_scope(self.request, self.route, "websocket", scheme)
        scope["subprotocols"] = self.offered_subprotocols()
        self.run(self._run(scope), "ASGI WebSocket")

    async def _run(self, scope: dict[str, Any]) -> None:
        """The app, once its lifespan has started (see apps/asgi.py)."""
        state = self.state
        error: BaseException | None = None
        try:
            lifespan = ready_lifespan(state, self.app) or await late_lifespan(state, self.app)
            with_lifespan_state(scope, lifespan)
            await self.app(scope, self.receive, self.send)
        except BaseException as exc:
            if user_tasks.closed_from_outside(exc):
                raise  # the task is being closed
            error = contained(exc)  # CancelledError, SystemExit too: the app's failure
        self._app_done(error)

    def _app_done(self, error: BaseException | None) -> None:
        """The app returned or raised: a refusal if it never accepted, else a close."""
        if error is not None and not isinstance(error, ClientDisconnected):
            without_server_frames(error)
            self.state.log.error(
                "ASGI WebSocket app for %s failed: %s",
                self.request.url_path,
                error,
                exc_info=error,
            )
        if self.lost:
            return
        if not self.accepted:
            if not self.refused:
                status = 500 if error is not None else 403
                self.refuse(errorResponse(self.request, "WebSocket connection refused", status))
        else:
            self.start_close(1011 if error is not None else 1000, "")

    # -- the app's receive() and send() ---------------------------------------------------------
    async def receive(self) -> dict[str, Any]:
        if not self.connected_sent:
            self.connected_sent = True
            return {"type": "websocket.connect"}
        if self.disconnected is None:
            message = await self.next_message()
            if message.__class__ is str:
                return {"type": "websocket.receive", "text": message}
            if message is not None:
                return {"type": "websocket.receive", "bytes": message}
            code = self.close_code()
            self.disconnected = {"type": "websocket.disconnect", "code": code, "reason": ""}
        return dict(self.disconnected)  # asked again after the end: the end again

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if self.lost or self.refused:
            raise ClientDisconnected("the WebSocket is closed")
        if kind == "websocket.send":
            text = message.get("text")
            if text is not None:
                payload, is_text = text.encode("utf-8"), True
            else:
                payload, is_text = bytes(message.get("bytes") or b""), False
            try:
                if self.send_message(payload, is_text):
                    await self.drain()
            except WebSocketClosed:
                raise ClientDisconnected("the WebSocket is closed") from None
        elif kind == "websocket.accept":
            await self._accept(message)
        elif kind == "websocket.close":
            await self.close(int(message.get("code", 1000)), message.get("reason") or "")
        else:
            raise ValueError(f"unknown ASGI message type {kind!r} for a WebSocket")

    async def _accept(self, message: dict[str, Any]) -> None:
        if self.accepted:
            raise RuntimeError("websocket.accept sent twice")
        # Checked before anything is sent: a refused header leaves the app's failure a 500.
        headers = [
            (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
            for name, value in message.get("headers", ())
        ]
        for name, value in headers:
            check_header(name, value)  # websockets writes its headers as they are
        chosen = message.get("subprotocol")
        if chosen not in self.offered_subprotocols():
            chosen = None  # one the client did not offer is not sent
        try:
            await self.accept(chosen, headers)
        except WebSocketClosed:
            raise ClientDisconnected("the WebSocket is closed") from None

"""Plugs the WebSocket upgrade into every worker (a startup hook of WorkerServer).

The websockets library is imported when the first upgrade arrives, or at start-up when
WebSocket classes are already registered, so a server without WebSockets never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...api.request import Request
    from ..http.protocol import HttpProtocol
    from ..process.state import WorkerState

UPGRADE_KEY = "websocket_upgrade"


def install(state: WorkerState) -> None:
    state.extras.setdefault(UPGRADE_KEY, upgrade_to_websocket)
    if state.websocket_router.routes():
        pass


def upgrade_to_websocket(http: HttpProtocol, request: Request, trailing: bytes) -> None:
    from .handshake import upgrade

    upgrade(http, request, trailing)

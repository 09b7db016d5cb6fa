"""The typed seams between an HTTP/1.1 connection and what answers its requests.

HttpProtocol (protocol.py) is the only Connection. What answers through it is typed against
these Protocols, never against HttpProtocol itself: the adapters of hosted apps (apps/),
file and stream responses (response_streams.py), WebSockets (websockets/). So none of them
imports the connection; nor does the connection import apps/ or websockets/: the worker's
server (process/server.py) gives each connection its ExchangeStarter and UpgradeStarter.

Every request a connection starts ends exactly once, by one of:
- `respond(request, result)`: a Response (or str/bytes) for the connection to write;
- `finish(request, status, size, keep_alive)`: the adapter wrote the response itself;
- `abandon(request)`: the client went away first; only the clean-up is left.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ...api.request import Request
    from ..common.state import WorkerState
    from ..policies.base import PortPolicy
    from .gate import AdmittedRoute


# A request's raw headers (a copy) and the same with each name lowered, as an ASGI scope gives
# them: what apps/asgi.py keeps of a connection's last request (Connection.scope_headers).
ScopeHeaders = tuple[list[tuple[bytes, bytes]], tuple[tuple[bytes, bytes], ...]]


class Transport(Protocol):
    """What the worker uses of an asyncio transport (uvloop's TCP or SSL transport)."""

    def write(self, data: bytes) -> None: ...

    def writelines(self, data: Any) -> None: ...

    def can_write_eof(self) -> bool: ...

    def write_eof(self) -> None: ...

    def get_write_buffer_size(self) -> int: ...

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None: ...

    def is_closing(self) -> bool: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class Exchange(Protocol):
    """A hosted app's exchange in progress (apps/asgi.py, apps/wsgi.py): told when the client
    goes away, and asked whether its answer has started to go out."""

    @property
    def on_wire(self) -> bool: ...

    def connection_lost(self) -> None: ...


class Upgraded(Protocol):
    """What a connection becomes after an upgrade (a WebSocket): the connection hands it the
    transport's events and the worker's drain."""

    # True: it removes the connection from state.connections itself, once its handler is done.
    holds_registration: bool

    def data_received(self, data: bytes) -> None: ...

    def eof_received(self) -> None: ...

    def connection_lost(self, exc: Exception | None) -> None: ...

    def pause_writing(self) -> None: ...

    def resume_writing(self) -> None: ...

    def shutdown(self) -> None: ...


class Connection(Protocol):
    """One client connection, as the parts that answer its requests see it."""

    # What a part may set: the exchange or upgrade in progress, the request it keeps busy,
    # the task sending a response.
    exchange: Exchange | None
    # The ASGI adapter's memo: the last request's raw headers, and their scope form.
    scope_headers: ScopeHeaders | None
    upgraded: Upgraded | None
    active: Request | None
    send_task: asyncio.Task[None] | None

    @property
    def state(self) -> WorkerState: ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def transport(self) -> Transport: ...

    @property
    def closed(self) -> bool: ...

    @property
    def write_paused(self) -> bool: ...

    @property
    def reading_paused(self) -> bool: ...

    @property
    def active_keep_alive(self) -> bool: ...

    @property
    def policy(self) -> PortPolicy | None: ...

    @property
    def base_context(self) -> contextvars.Context:
        """What the user code of this connection starts from: each request's or WebSocket
        call's task runs in a copy of it (http/user_tasks.py)."""
        ...

    # -- ending a request (exactly one of these per request) --------------------------------
    def respond(self, request: Request, result: Any) -> None: ...

    def finish(self, request: Request, status: int, size: int, keep_alive: bool) -> None: ...

    def abandon(self, request: Request) -> None: ...

    # -- flow control ------------------------------------------------------------------------
    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    async def drain(self) -> None: ...

    async def writable(self, fd: int) -> None: ...

    # -- ending the connection ----------------------------------------------------------------
    def linger(self) -> None: ...

    def connection_lost(self, exc: Exception | None) -> None: ...

    def close(self) -> None: ...


class ExchangeStarter(Protocol):
    """What a connection hands a request to when its route `runs_exchange`, one per route kind
    (apps/exchange.py's STARTERS): the adapter then ends the request through the Connection,
    exactly once."""

    def __call__(
        self, connection: Connection, route: AdmittedRoute, request: Request, /
    ) -> None: ...


NO_STARTERS: Mapping[str, ExchangeStarter] = MappingProxyType({})
"""A connection's starters when it was made without a WorkerServer: such routes are refused."""

UpgradeStarter = Callable[["Connection", "Request", bytes], None]
"""What a connection hands an `Upgrade: websocket` request to (websockets/upgrade.py)."""

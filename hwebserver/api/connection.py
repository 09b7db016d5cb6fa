"""What a request knows about the connection and listener it arrived on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class WorkerServices(Protocol):
    """What the serving worker offers to endpoints that need more than the request (the /api
    endpoint): calling plain functions where plain handlers run (the handler threads), and the
    debug flag."""

    debug: bool

    def call_plain(
        self, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Awaitable[Any]: ...


class ConnectionInfo:
    """Built once per connection by the worker and shared by every request on it."""

    __slots__ = ("client", "is_tls", "port", "port_name", "port_settings", "server", "services")

    def __init__(
        self,
        client: tuple[str, int],
        server: tuple[str, int],
        port_name: str,
        is_tls: bool,
        port_settings: dict[str, Any],
        services: WorkerServices | None = None,
    ) -> None:
        self.client = client
        self.server = server
        self.port = server[1]
        self.port_name = port_name
        self.is_tls = is_tls
        self.port_settings = port_settings
        # None outside a worker (a Request built by hand): plain functions are then called directly.
        self.services = services

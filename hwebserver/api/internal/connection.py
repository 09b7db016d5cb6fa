"""What a request knows about the connection and listener it arrived on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class OnHandlerThread:
    """What an async endpoint may answer to have the rest of its work done on a handler thread,
    where plain code runs, without a task: the server calls `run(request)` there and sends what
    it returns (a Response, str or bytes). The /api endpoint answers this for plain functions."""

    __slots__ = ("run",)

    def __init__(self, run: Callable[[Any], Any]) -> None:
        self.run = run


class WorkerServices(Protocol):
    """What the serving worker tells endpoints beyond the request (the /api endpoint): whether
    it runs in debug mode (tracebacks in error answers)."""

    debug: bool


class ConnectionInfo:
    """Built once per connection by the worker and shared by every request on it."""

    __slots__ = (
        "client",
        "fixed_scheme",
        "is_tls",
        "port",
        "port_name",
        "port_settings",
        "server",
        "services",
        "trusts_forwarded",
    )

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
        # USE_X_FORWARDED_HOST, read once per connection into a typed field: Host and scheme
        # come from X-Forwarded-Host/-Proto (Request.host, Request.isSecure).
        self.trusts_forwarded: bool = bool(port_settings.get("USE_X_FORWARDED_HOST"))
        # The scheme when no request header can change it (see Request.isSecure): most ports.
        self.fixed_scheme: str | None = (
            "https" if is_tls else None if self.trusts_forwarded else "http"
        )
        # None outside a worker (a Request built by hand): plain functions are then called directly.
        self.services = services

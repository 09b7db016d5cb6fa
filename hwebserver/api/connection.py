"""What a request knows about the connection and listener it arrived on."""

from __future__ import annotations

from typing import Any


class ConnectionInfo:
    """Built once per connection by the worker and shared by every request on it."""

    __slots__ = ("client", "is_tls", "port", "port_name", "port_settings", "server")

    def __init__(
        self,
        client: tuple[str, int],
        server: tuple[str, int],
        port_name: str,
        is_tls: bool,
        port_settings: dict[str, Any],
    ) -> None:
        self.client = client
        self.server = server
        self.port = server[1]
        self.port_name = port_name
        self.is_tls = is_tls
        self.port_settings = port_settings

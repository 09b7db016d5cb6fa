"""Every process-wide registry that registration calls fill (decorators at import time,
`setSettingsForPort`, the `register*` functions), listed once.

`hwebserver.testing.isolated_registry()` snapshots and restores each of them; a test walks
the package for objects shaped like a registry and fails when one is missing here.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..functions.registry import api_functions
from ..routing import http_routes, websocket_routes
from ..settings import port_settings
from ..worker_hooks import worker_hooks


class Registry(Protocol):
    def snapshot(self) -> Any:
        """What the registry holds now, unaffected by later registrations."""

    def restore(self, state: Any) -> None:
        """Hold what `snapshot()` returned, and nothing registered since."""


def every_registry() -> dict[str, Registry]:
    """By name: URL handlers, mounts and static files; WebSockets; API functions; the
    settings of setSettingsForPort(); the onWorkerStart and onWorkerStop hooks."""
    return {
        "http_routes": http_routes,
        "websocket_routes": websocket_routes,
        "api_functions": api_functions,
        "port_settings": port_settings,
        "worker_hooks": worker_hooks,
    }

"""Testing a service: `TestClient`, `isolated_registry()`, and the objects behind the pytest
fixtures `hwebserver_client` and `hwebserver_service` (the plugin is `pytest_hwebserver`).

Needs the `test` extra (httpx): `pip install 'hwebserver[test]'`. The documentation's
"Testing your service" page shows each piece.
"""

from __future__ import annotations

try:
    import httpx  # noqa: F401  (the client's transport; checked here to say what to install)
except ImportError as missing:
    raise ImportError(
        "hwebserver.testing needs httpx, which the test extra installs: "
        "pip install 'hwebserver[test]'"
    ) from missing

from .client import TestClient
from .ports import free_port
from .registry import isolated_registry
from .service import Service, ServiceFailed, Services
from .websocket import WebSocketSession

__all__ = [
    "Service",
    "ServiceFailed",
    "Services",
    "TestClient",
    "WebSocketSession",
    "free_port",
    "isolated_registry",
]

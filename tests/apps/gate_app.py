"""One route of every kind, on every port (tests/policies/test_gate.py sends each against every rule).

The ports' settings come from the test (HWEBSERVER_TEST_PORT_SETTINGS, as in configured_app).
Each entry answers a plain request with 2xx (a WebSocket: 101), so a refusal is the gate's.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from harness import serve

import hwebserver

EVERY_PORT = [-1]


@hwebserver.urlHandler("/plain", ports=EVERY_PORT)
def plain(request: hwebserver.Request) -> str:
    return "plain"


@hwebserver.urlHandler("/async", ports=EVERY_PORT)
async def async_handler(request: hwebserver.Request) -> str:
    return "async"


@hwebserver.apiFunction(ports=EVERY_PORT)
def ping(request: hwebserver.Request) -> str:
    return "pong"


class Later(hwebserver.AsyncURLHandler):
    async def handle(self, request: hwebserver.Request) -> None:
        request.send(hwebserver.Response("async url handler"))


Later("/async-url", ports=EVERY_PORT)


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi"]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"asgi"})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})


hwebserver.registerWSGIApp(wsgi_app, "/wsgi", ports=EVERY_PORT)
hwebserver.registerASGIApp(asgi_app, "/asgi", ports=EVERY_PORT)


@hwebserver.webSocket("/hws", ports=EVERY_PORT)
class Hws(hwebserver.WebSocket):
    async def connect(self, request: hwebserver.Request) -> None:
        await self.accept()
        await self.close(1000)


def opdef(node_type: str, section: str) -> bytes | None:
    return b"opdef section"


hwebserver.registerOpdefPath("/opdef", port=-1, resolver=opdef)


def files() -> None:
    """A static directory and an archive, made in the working directory (the test's)."""
    directory = Path("site")
    directory.mkdir(exist_ok=True)
    (directory / "index.txt").write_text("static")
    with zipfile.ZipFile("site.zip", "w") as archive:
        archive.writestr("index.txt", "archived")
    hwebserver.registerStaticFilesDirectory(str(directory), "/files", port=-1)
    hwebserver.registerArchiveFile("site.zip", "/zip", port=-1)


if __name__ == "__main__":
    files()
    settings = json.loads(os.environ.get("HWEBSERVER_TEST_PORT_SETTINGS", "{}"))
    for port_name, port_settings in settings.items():
        hwebserver.setSettingsForPort(port_settings, port_name)
    serve()

"""Handlers registered with the port forms Houdini's docs use: 0, "0" and "main" for the main
port, -1 and "-1" for every port. Run with ports=["admin"].

HWEBSERVER_TEST_UNDECLARED_PORT=<name>: also register a handler on a port no run() declares.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness import serve

import hwebserver

PUBLIC = Path.cwd() / "public"
PUBLIC.mkdir(exist_ok=True)
(PUBLIC / "file.txt").write_bytes(b"static file\n")


def where(request: hwebserver.Request) -> str:
    return f"{request.path()} on {request.port()}"


hwebserver.urlHandler("/zero-int", ports=[0])(where)
hwebserver.urlHandler("/zero-str", ports=["0"])(where)
hwebserver.urlHandler("/main-name", ports=["main"])(where)
hwebserver.urlHandler("/every-int", ports=[-1])(where)
hwebserver.urlHandler("/every-str", ports=["-1"])(where)
hwebserver.urlHandler("/admin-only", ports=["admin"])(where)


class ZeroHandler(hwebserver.URLHandler):
    def handle(self, request: hwebserver.Request) -> str:
        return where(request)


ZeroHandler("/class-zero", ports=[0])


@hwebserver.apiFunction(ports=["0"])
def on_main(request: hwebserver.Request) -> str:
    return "api on main"


@hwebserver.apiFunction(ports=[-1])
def on_every_port(request: hwebserver.Request) -> str:
    return "api on every port"


@hwebserver.webSocket("/ws-zero", ports=[0])
class Echo(hwebserver.WebSocket):
    async def connect(self, request: hwebserver.Request) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data if text_data is not None else bytes_data)


def wsgi_app(environ: dict, start_response) -> list[bytes]:  # type: ignore[no-untyped-def]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi everywhere"]


hwebserver.registerWSGIApp(wsgi_app, "/wsgi", ports=["-1"])
hwebserver.registerStaticFilesDirectory(str(PUBLIC), "/static-main", port=0)
hwebserver.registerStaticFilesDirectory(str(PUBLIC), "/static-every", port="-1")

undeclared = os.environ.get("HWEBSERVER_TEST_UNDECLARED_PORT")
if undeclared:
    hwebserver.urlHandler("/lost", ports=[undeclared])(where)


if __name__ == "__main__":
    serve()

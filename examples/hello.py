"""A small service: a plain and an async hello, an echo, and a JSON status page."""

from __future__ import annotations

import json
import os

import hwebserver


@hwebserver.urlHandler("/")
def index(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response("<h1>hwebserver demo</h1><p>Try /hello, /async-hello, /echo</p>")


@hwebserver.urlHandler("/hello")
def hello(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response("Hello, world!", content_type="text/plain")


@hwebserver.urlHandler("/async-hello")
async def async_hello(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response("Hello, world!", content_type="text/plain")


@hwebserver.urlHandler("/echo", methods=["POST", "PUT"])
def echo(request: hwebserver.Request) -> hwebserver.Response:
    content_type = request.contentType() or "application/octet-stream"
    return hwebserver.Response(request.body(), content_type=content_type)


@hwebserver.urlHandler("/status")
def status(request: hwebserver.Request) -> hwebserver.Response:
    body = json.dumps({"pid": os.getpid(), "path": request.path(), "query": request.GET()})
    return hwebserver.Response(body, content_type="application/json")


def announce(port_name: str, port: int) -> None:
    print(f"demo service ({port_name}): http://127.0.0.1:{port}/", flush=True)


if __name__ == "__main__":
    hwebserver.run(
        port_callback=announce,
        port=int(os.environ.get("PORT", "8008")),
        in_background=False,
        workers=int(os.environ.get("WORKERS", "1")),
        allow_system_port=True,
    )

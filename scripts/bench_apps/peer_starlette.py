"""Starlette app for uvicorn: hello and a JSON endpoint (the API-call peer).

/hello-sync and /slow are plain `def` endpoints, which Starlette runs in its thread pool
(anyio's, 40 threads): the peers of hwebserver's plain handlers run in threads.
"""

import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello, world!")


def hello_sync(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello, world!")


def slow(request: Request) -> PlainTextResponse:
    """Holds one pool thread for 2 s, as hw_app.py's /slow does."""
    time.sleep(2.0)
    return PlainTextResponse("Hello, world!")


async def api(request: Request) -> JSONResponse:
    form = await request.form()
    x, y, z = (float(form[k]) for k in ("x", "y", "z"))
    return JSONResponse((x * x + y * y + z * z) ** 0.5)


async def json_endpoint(request: Request) -> JSONResponse:
    return JSONResponse({"result": 3.0})


app = Starlette(
    routes=[
        Route("/hello", hello),
        Route("/hello-sync", hello_sync),
        Route("/slow", slow),
        Route("/api", api, methods=["POST"]),
        Route("/json", json_endpoint),
    ]
)

"""An ASGI app whose lifespan startup fails: the worker must not serve."""

from __future__ import annotations

import contextlib

from harness import serve
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import hwebserver


@contextlib.asynccontextmanager
async def lifespan(app):
    raise RuntimeError("the model failed to load")
    yield


async def home(request):
    return PlainTextResponse("should never be served")


hwebserver.registerASGIApp(Starlette(routes=[Route("/", home)], lifespan=lifespan), "/app")


@hwebserver.urlHandler("/hello")
def hello(request):
    return "should never be served either"


if __name__ == "__main__":
    serve()

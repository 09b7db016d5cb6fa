"""Every kind of async user code running everyday async Python, in its first step (before it
waits for anything) or after a suspension: each answers "ok", or "failed: <what was raised>".

A construct runs in the first step when nothing before it suspends: `attempt(construct,
"first")` awaits nothing before the construct, `attempt(construct, "after")` sleeps first.
The httpx construct calls MATRIX_UPSTREAM, a server the test runs (not this service: the
lifespan runs before this service answers anything).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
import httpx
from fastapi import FastAPI
from harness import serve
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import hwebserver

UPSTREAM = os.environ.get("MATRIX_UPSTREAM", "")


async def _child() -> str:
    await asyncio.sleep(0)
    return "child"


async def current_task() -> None:
    if asyncio.current_task() is None:
        raise RuntimeError("asyncio.current_task() is None")


async def timeout() -> None:
    async with asyncio.timeout(5):
        await asyncio.sleep(0)


async def task_group() -> None:
    async with asyncio.TaskGroup() as group:
        task = group.create_task(_child())
    if task.result() != "child":
        raise RuntimeError(f"the child returned {task.result()!r}")


async def wait_for() -> None:
    if await asyncio.wait_for(_child(), 5) != "child":
        raise RuntimeError("wait_for did not return the child's result")


async def cancel_self() -> None:
    """current_task().cancel(): the next await raises CancelledError, caught here."""
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("asyncio.current_task() is None")
    task.cancel()
    try:
        await asyncio.sleep(5)
    except asyncio.CancelledError:
        task.uncancel()
        return
    raise RuntimeError("the task was not cancelled")


async def fail_after() -> None:
    with anyio.fail_after(5):
        await anyio.sleep(0)


async def anyio_task_group() -> None:
    done: list[str] = []

    async def child() -> None:
        await anyio.sleep(0)
        done.append("child")

    async with anyio.create_task_group() as group:
        group.start_soon(child)
    if done != ["child"]:
        raise RuntimeError(f"the child did not run: {done}")


async def to_thread() -> None:
    if await anyio.to_thread.run_sync(lambda: "thread") != "thread":
        raise RuntimeError("anyio.to_thread returned something else")


async def httpx_request() -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(UPSTREAM, timeout=10)
    if response.text != "pong":
        raise RuntimeError(f"the upstream answered {response.status_code} {response.text!r}")


CONSTRUCTS: dict[str, Callable[[], Awaitable[None]]] = {
    "current_task": current_task,
    "timeout": timeout,
    "task_group": task_group,
    "wait_for": wait_for,
    "cancel_self": cancel_self,
    "fail_after": fail_after,
    "anyio_task_group": anyio_task_group,
    "to_thread": to_thread,
    "httpx": httpx_request,
}
WHEN = ("first", "after")


async def attempt(construct: str, when: str) -> str:
    """Runs the construct; "ok", or what it raised."""
    try:
        if when == "after":
            await asyncio.sleep(0.001)
        await CONSTRUCTS[construct]()
    except Exception as exc:
        return f"failed: {type(exc).__name__}: {exc}"
    return "ok"


def construct_and_when(path: str) -> tuple[str, str]:
    construct, when = path.rstrip("/").rsplit("/", 2)[-2:]
    return construct, when


# -- an async urlHandler, an AsyncURLHandler, an async API function ----------------------------
@hwebserver.urlHandler("/handler", is_prefix=True)
async def handler(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(await attempt(*construct_and_when(request.path())))


class Handler(hwebserver.AsyncURLHandler):
    async def handle(self, request: Any) -> None:
        request.send(hwebserver.Response(await attempt(*construct_and_when(request.path()))))


Handler("/async-handler", allows_partial=True)


@hwebserver.apiFunction()
async def matrix(request: hwebserver.Request, construct: str, when: str) -> str:
    return await attempt(construct, when)


# -- hwebserver WebSockets -----------------------------------------------------------------
@hwebserver.webSocket("/ws/connect", is_prefix=True)
class InConnect(hwebserver.WebSocket):
    """The construct runs in connect(), then the outcome is the first message."""

    async def connect(self, request: Any) -> None:
        outcome = await attempt(*construct_and_when(request.path()))
        await self.accept()
        await self.send(outcome)


@hwebserver.webSocket("/ws/receive")
class InReceive(hwebserver.WebSocket):
    """Each message names a construct and when ("timeout/first"): the answer is its outcome."""

    async def connect(self, request: Any) -> None:
        await self.accept()

    async def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
        await self.send(await attempt(*construct_and_when(text_data)))


# -- ASGI apps -----------------------------------------------------------------------------
async def raw_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await answer_lifespan(receive, send)
        return
    outcome = await attempt(*construct_and_when(scope["path"]))
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": outcome})
        await send({"type": "websocket.close", "code": 1000})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": outcome.encode()})


async def answer_lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        await send({"type": message["type"] + ".complete"})
        if message["type"] == "lifespan.shutdown":
            return


async def starlette_endpoint(request: StarletteRequest) -> PlainTextResponse:
    params = request.path_params
    return PlainTextResponse(await attempt(params["construct"], params["when"]))


starlette_app = Starlette(routes=[Route("/{construct}/{when}", starlette_endpoint)])

fastapi_app = FastAPI()


@fastapi_app.get("/{construct}/{when}", response_class=PlainTextResponse)
async def fastapi_endpoint(construct: str, when: str) -> str:
    return await attempt(construct, when)


fastapi_with_middleware = FastAPI()


@fastapi_with_middleware.middleware("http")
async def run_the_construct(request: StarletteRequest, call_next: Any) -> Any:
    """The construct runs in the middleware, in the request's first step; the endpoint
    answers what it gave."""
    request.scope["matrix_outcome"] = await attempt(*construct_and_when(request.url.path))
    return await call_next(request)


@fastapi_with_middleware.get("/{construct}/{when}", response_class=PlainTextResponse)
async def after_middleware(request: StarletteRequest) -> str:
    return str(request.scope["matrix_outcome"])


def lifespan_app(construct: str, when: str) -> Callable[..., Awaitable[None]]:
    """An app whose lifespan runs the construct in its first step (at the worker's start);
    its HTTP requests answer the outcome."""
    outcome: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            outcome.append(await attempt(construct, when))
            await answer_lifespan(receive, send)
            return
        body = outcome[0] if outcome else "failed: the lifespan did not run"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body.encode()})

    return app


# -- onWorkerStart hooks: each runs one construct in its first step (or after a suspension)
HOOK_OUTCOMES: dict[str, str] = {}


def start_hook(construct: str, when: str) -> Callable[[], Awaitable[None]]:
    async def hook() -> None:
        HOOK_OUTCOMES[f"{construct}/{when}"] = await attempt(construct, when)

    return hook


@hwebserver.urlHandler("/hook", is_prefix=True)
def hook_outcome(request: hwebserver.Request) -> hwebserver.Response:
    construct, when = construct_and_when(request.path())
    key = f"{construct}/{when}"
    return hwebserver.Response(HOOK_OUTCOMES.get(key, "failed: the hook did not run"))


hwebserver.registerASGIApp(raw_asgi, "/asgi")
hwebserver.registerASGIApp(starlette_app, "/starlette")
hwebserver.registerASGIApp(fastapi_app, "/fastapi")
hwebserver.registerASGIApp(fastapi_with_middleware, "/fastapi-middleware")
for _construct in CONSTRUCTS:
    for _when in WHEN:
        hwebserver.registerASGIApp(
            lifespan_app(_construct, _when), f"/lifespan/{_construct}/{_when}"
        )
        hwebserver.onWorkerStart(start_hook(_construct, _when))

if __name__ == "__main__":
    serve()

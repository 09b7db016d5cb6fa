"""ASGI apps mounted in hwebserver: Starlette, FastAPI and a raw ASGI 3 app."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import json
import os
import pathlib
import types

from fastapi import FastAPI
from fastapi import WebSocket as FastAPIWebSocket
from harness import serve
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

import hwebserver

MARKER_DIR = os.environ.get("ASGI_MARKER_DIR", ".")


def mark(name: str) -> None:
    """Lifespan events leave files a test can look for."""
    with open(os.path.join(MARKER_DIR, f"{name}-{os.getpid()}"), "a") as file:
        file.write("x")


# -- Starlette, under /star -------------------------------------------------------------------
@contextlib.asynccontextmanager
async def star_lifespan(app):
    mark("star-startup")
    yield {"greeting": "hello from lifespan", "started_pid": os.getpid()}
    mark("star-shutdown")


async def star_json(request: Request):
    return JSONResponse(
        {
            "path": request.url.path,
            "root_path": request.scope["root_path"],
            "url_for": str(request.url_for("star_json")),
            "greeting": request.state.greeting,
            "query": dict(request.query_params),
        }
    )


async def star_stream(request: Request):
    count = int(request.query_params.get("n", "3"))

    async def rows():
        for index in range(count):
            await asyncio.sleep(0)
            yield f"row{index}\n"

    return StreamingResponse(rows(), media_type="text/plain")


async def star_echo_body(request: Request):
    data = await request.body()
    return PlainTextResponse(f"{len(data)}")


async def star_ws(websocket: WebSocket):
    await websocket.accept(subprotocol=None)
    greeting = websocket.state.greeting
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "close":
            await websocket.close(code=4001)
            return
        if message.get("text") is not None:
            await websocket.send_text(f"{greeting}: {message['text']}")
        else:
            await websocket.send_bytes(message["bytes"][::-1])


async def star_ws_refuse(websocket: WebSocket):
    await websocket.close()


star = Starlette(
    routes=[
        Route("/json", star_json, name="star_json"),
        Route("/stream", star_stream),
        Route("/body", star_echo_body, methods=["POST"]),
        WebSocketRoute("/ws", star_ws),
        WebSocketRoute("/refuse", star_ws_refuse),
    ],
    lifespan=star_lifespan,
)

# -- FastAPI, under /fast -----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fast_lifespan(app):
    mark("fast-startup")
    yield {"model": "tiny-model"}
    mark("fast-shutdown")


fast = FastAPI(lifespan=fast_lifespan)


class Item(BaseModel):
    name: str
    price: float


@fast.post("/items")
async def create_item(item: Item, request: Request):
    return {"name": item.name, "total": item.price * 2, "model": request.state.model}


@fast.get("/items/{item_id}")
def read_item(item_id: int, request: Request):
    return {"item_id": item_id, "url": str(request.url_for("read_item", item_id=item_id))}


@fast.get("/stream")
async def fast_stream():
    async def chunks():
        for index in range(4):
            yield f"chunk{index};"

    return StreamingResponse(chunks(), media_type="text/plain")


@fast.websocket("/ws")
async def fast_ws(websocket: FastAPIWebSocket):
    await websocket.accept()
    try:
        while True:
            data = await websocket.receive_json()
            await websocket.send_json({"echo": data, "model": websocket.state.model})
    except Exception:
        return


# -- a raw ASGI app, under /raw: what the scope and receive() say ---------------------------------
async def raw_asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        raise RuntimeError("this app does no lifespan")  # the server must carry on
    if scope["type"] == "websocket":
        if scope["path"].endswith("slow-accept"):
            await asyncio.sleep(1.0)  # e.g. checking credentials
        await lazy_websocket(receive, send)
        return
    if scope["type"] != "http":
        return
    if scope["path"].endswith("/pathsend"):  # this very file, by http.response.pathsend
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": os.path.abspath(__file__)})
        return
    if scope["path"].endswith("/pathsend-lists"):  # the same, with headers given as lists
        start = {"type": "http.response.start", "status": 200, "headers": [[b"x-kind", b"lists"]]}
        await send(start)
        await send({"type": "http.response.pathsend", "path": os.path.abspath(__file__)})
        return
    if scope["path"].endswith("/pathsend-path"):  # the same, named by a pathlib.Path
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": pathlib.Path(__file__).resolve()})
        return
    if scope["path"].endswith("/mapping"):  # messages that are mappings, not dicts
        start = {"type": "http.response.start", "status": 200, "headers": []}
        await send(types.MappingProxyType(start))
        await send(collections.UserDict({"type": "http.response.body", "body": b"from mappings"}))
        return
    if scope["path"].endswith("/early"):  # answers before it has read the body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"started\n", "more_body": True})
        total = 0
        while True:
            message = await receive()
            total += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        await send({"type": "http.response.body", "body": b"read %d\n" % total})
        return
    if scope["path"].endswith("/chunks"):
        sizes = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            sizes.append(len(message["body"]))
            if not message.get("more_body"):
                break
        body = json.dumps({"messages": len(sizes), "total": sum(sizes)}).encode()
    else:
        keys = ("path", "root_path", "raw_path", "query_string", "http_version", "scheme")
        body = json.dumps(
            {
                key: (scope[key].decode() if isinstance(scope[key], bytes) else scope[key])
                for key in keys
            }
        ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def lazy_websocket(receive, send):
    """Accepts, then does not receive for two seconds (a busy app), then drains until the
    client leaves."""
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await asyncio.sleep(2.0)
    while (await receive())["type"] != "websocket.disconnect":
        pass


async def raw_fails(scope, receive, send):
    if scope["type"] == "http":
        raise RuntimeError("asgi app failed on purpose")


# -- a raw ASGI app, under /framed: answers whose framing the server must check ------------------
FRAMED_ANSWERS = {
    b"short": ([(b"content-length", b"20")], b"hello"),  # 15 bytes fewer than it announces
    b"long": ([(b"content-length", b"3")], b"Hello, world!"),  # only 3 may go out
    b"lists": ([[b"content-type", b"text/plain"], [b"x-kind", b"lists"]], b"as lists"),
    b"server": ([(b"server", b"framed/1.0")], b"own server header"),
    b"close": ([(b"connection", b"close")], b"closing"),
    b"bad": ([(b"x-bad", b"a\r\nInjected: yes")], b"never sent"),
    b"none": ([(b"x-kind", b"none")], None),  # not bytes: an empty body (chunked), as always
    # Other byte buffers than bytes: sent as they are (compiled, a `bytes` parameter refuses them)
    b"bytearray": ([(b"x-kind", b"bytearray")], bytearray(b"from a bytearray")),
    b"memoryview": ([(b"x-kind", b"memoryview")], memoryview(b"from a memoryview")),
    b"bytearray-value": ([(b"x-kind", bytearray(b"bytearray-value"))], b"a bytearray value"),
}


class OddBytes(bytes):
    """A header name whose lower() says something else than its bytes."""

    def lower(self):
        return b"content-length"


FRAMED_ANSWERS[b"odd"] = ([(OddBytes(b"x-odd"), b"5")], b"12345")
FRAMED_ANSWERS[b"plain-odd"] = ([(b"x-odd", b"5")], b"plain!")


async def framed(scope, receive, send):
    """Every answer in one message: head, body and end framed at once."""
    query = scope["query_string"]
    if query.startswith(b"fresh="):  # a header of its own on every answer, too big to memo
        headers, body = [(b"set-cookie", b"id=" + query[6:] * 400)], b"fresh"
    else:
        headers, body = FRAMED_ANSWERS[query]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- apps the server calls in other ways: a plain function, a class ------------------------------
# Set by calling_app for its own request: no other request may see it.
REQUEST_MARK: contextvars.ContextVar[str] = contextvars.ContextVar("request_mark", default="")


def calling_app(scope, receive, send):
    """A plain function returning the app's coroutine, as a decorator or an adapter does: what
    it does before returning belongs to its request."""
    seen = REQUEST_MARK.get()
    REQUEST_MARK.set(scope.get("path", "lifespan"))

    async def answer():
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": f"seen={seen!r}".encode()})

    return answer()


class EndpointApp(HTTPEndpoint):
    """A Starlette endpoint class mounted as the app: ASGI calls the class, awaits the
    instance."""

    async def get(self, request: Request):
        return PlainTextResponse("an endpoint class")


async def scope_keys(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(list(scope)).encode()})


async def scope_headers(scope, receive, send):
    """Answers its scope's headers, then changes that list as an app may (Starlette's
    MutableHeaders does): no later request may see the change."""
    if scope["type"] != "http":
        return
    headers = scope["headers"]
    body = json.dumps([[name.decode(), value.decode()] for name, value in headers]).encode()
    headers.append((b"x-added-by-the-app", b"1"))
    headers[0] = (b"x-replaced-by-the-app", b"1")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


hwebserver.registerASGIApp(calling_app, "/calling")
hwebserver.registerASGIApp(scope_headers, "/scope-headers")
hwebserver.registerASGIApp(EndpointApp, "/endpoint")
hwebserver.registerASGIApp(scope_keys, "/keys")
hwebserver.registerASGIApp(star, "/star")
hwebserver.registerASGIApp(framed, "/framed")
hwebserver.registerASGIApp(fast, "/fast")
hwebserver.registerASGIApp(raw_asgi, "/raw")
hwebserver.registerASGIApp(raw_fails, "/fails", ports=["other"])
hwebserver.registerASGIApp(star, "/", ports=["other"])


@hwebserver.urlHandler("/star/handler")
def star_handler(request):
    return "a urlHandler inside the Starlette mount"


if __name__ == "__main__":
    serve(ports=["other"])

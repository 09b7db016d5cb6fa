"""Handlers that put what the client sent into a response's headers and status, as careless
services do: the server must refuse what would break the response, never send it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote_to_bytes

from harness import serve

import hwebserver

# A served directory and a file to send, made where the test runs the service (its cwd).
PUBLIC = Path.cwd() / "public"
PUBLIC.mkdir(exist_ok=True)
FILE = PUBLIC / "thousand.txt"
FILE.write_bytes(b"0123456789" * 100)
hwebserver.registerStaticFilesDirectory(str(PUBLIC), "/static")


def query(request: hwebserver.Request, name: str, default: str = "") -> str:
    return request.GET().get(name, default)


@hwebserver.urlHandler("/content-type")
def content_type(request: hwebserver.Request) -> hwebserver.Response:
    """`kind` picks the path the content type takes into the response."""
    chosen, kind = query(request, "t"), query(request, "kind", "str")
    if kind == "str":
        return hwebserver.Response("text body", content_type=chosen)
    if kind == "bytes":
        return hwebserver.Response(b"bytes body", content_type=chosen)
    if kind == "stream":
        return hwebserver.Response(iter([b"streamed"]), content_type=chosen)
    if kind == "file":
        return hwebserver.fileResponse(str(FILE), content_type=chosen)
    response = hwebserver.Response("before")
    response.setBody("after", chosen)  # kind == "set-body"
    return response


@hwebserver.urlHandler("/header")
def header(request: hwebserver.Request) -> hwebserver.Response:
    response = hwebserver.Response("with a header")
    response.setHeader(query(request, "n", "X-Echo"), query(request, "v"))
    return response


@hwebserver.urlHandler("/cookie")
def cookie(request: hwebserver.Request) -> hwebserver.Response:
    response = hwebserver.Response("with a cookie")
    response.setCookie(
        "session",
        query(request, "v", "1"),
        path=query(request, "path", "/"),
        expires=request.GET().get("expires"),
    )
    return response


@hwebserver.urlHandler("/redirect")
def redirect(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.redirect(request, query(request, "to", "/"))


@hwebserver.urlHandler("/status")
def status(request: hwebserver.Request) -> hwebserver.Response:
    """A status from the query on a response of each kind; `set` uses setStatus."""
    code, kind = int(query(request, "s", "200")), query(request, "kind", "str")
    if kind == "set":
        response = hwebserver.Response("a body that must not be sent")
        response.setStatus(code)
        return response
    if kind == "bytes":
        return hwebserver.Response(b"a body that must not be sent", status=code)
    if kind == "stream":
        return hwebserver.Response(iter([b"a body ", b"that must not be sent"]), status=code)
    if kind == "file":
        response = hwebserver.fileResponse(str(FILE))
        response.setStatus(code)
        return response
    return hwebserver.Response("a body that must not be sent", status=code)


@hwebserver.urlHandler("/after")
def after(request: hwebserver.Request) -> str:
    return "still serving"


def wsgi_app(environ: dict, start_response) -> list[bytes]:
    """`s`: the status, `n` and `v`: one header, `cl`: a Content-Length of the app's own."""
    params = dict(parse_qsl(environ["QUERY_STRING"]))
    headers = [("Content-Type", "text/plain")]
    if "n" in params or "v" in params:
        headers.append((params.get("n", "X-Echo"), params.get("v", "")))
    if "cl" in params:
        headers.append(("Content-Length", params["cl"]))
    start_response(f"{params.get('s', '200')} Whatever", headers)
    return [b"wsgi body"]


async def asgi_app(scope: dict, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    params = {
        unquote_to_bytes(name).decode(): unquote_to_bytes(value)
        for name, _, value in (pair.partition(b"=") for pair in scope["query_string"].split(b"&"))
    }
    headers = [(b"content-type", b"text/plain")]
    if "n" in params or "v" in params:
        headers.append((params.get("n", b"x-echo"), params.get("v", b"")))
    if scope["type"] == "websocket":  # accepted with the header from the query
        await receive()
        await send({"type": "websocket.accept", "headers": headers[1:]})
        await send({"type": "websocket.close", "code": 1000})
        return
    await send(
        {"type": "http.response.start", "status": int(params.get("s", b"200")), "headers": headers}
    )
    await send({"type": "http.response.body", "body": b"asgi body"})


hwebserver.registerWSGIApp(wsgi_app, "/wsgi")
hwebserver.registerASGIApp(asgi_app, "/asgi")


if __name__ == "__main__":
    serve()

"""The third security round's service: apps that answer 1xx, a guard in front of a mount,
files a client never reads, fileResponse on odd paths, redirects to odd places.

SECURITY_FILES: the directory Starlette's StaticFiles serves at /files (secret.txt in it is
guarded by a urlHandler answering 403) and hwebserver's static directory at /static.
"""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qs

from harness import serve
from starlette.staticfiles import StaticFiles

import hwebserver

FILES = os.environ["SECURITY_FILES"]


# -- apps answering an informational status ---------------------------------------------------
async def asgi_interim(scope, receive, send):
    """Answers with the status its query names (`?status=100`), then a body."""
    status = int(parse_qs(scope["query_string"].decode())["status"][0])
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"interim"})


async def asgi_interim_swallowed(scope, receive, send):
    """Answers 100, ignores that it is refused, and returns."""
    try:
        await send({"type": "http.response.start", "status": 100, "headers": []})
    except ValueError:
        pass


def wsgi_interim(environ, start_response):
    status = parse_qs(environ["QUERY_STRING"])["status"][0]
    start_response(status, [("Content-Type", "text/plain")])
    return [b"interim"]


async def asgi_echo(scope, receive, send):
    """What an ASGI app is told of the target."""
    body = json.dumps(
        {"path": scope["path"], "raw_path": scope["raw_path"].decode("latin-1")}
    ).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def wsgi_echo(environ, start_response):
    """What a WSGI app is told of the target."""
    body = json.dumps(
        {"SCRIPT_NAME": environ["SCRIPT_NAME"], "PATH_INFO": environ["PATH_INFO"]}
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


async def asgi_pathsend(scope, receive, send):
    """Sends the file its query names (`?path=...`) with http.response.pathsend."""
    path = parse_qs(scope["query_string"].decode())["path"][0]
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.pathsend", "path": path})


hwebserver.registerASGIApp(asgi_pathsend, "/asgi-pathsend")
hwebserver.registerASGIApp(asgi_interim, "/asgi-interim")
hwebserver.registerASGIApp(asgi_interim_swallowed, "/asgi-interim-swallowed")
hwebserver.registerWSGIApp(wsgi_interim, "/wsgi-interim")
hwebserver.registerASGIApp(asgi_echo, "/asgi-echo")
hwebserver.registerWSGIApp(wsgi_echo, "/wsgi-echo")


# -- a guard in front of a mount ---------------------------------------------------------------
hwebserver.registerASGIApp(StaticFiles(directory=FILES), "/files")


@hwebserver.urlHandler("/files/secret.txt")
def guard(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response("forbidden", 403)


@hwebserver.urlHandler("/path", is_prefix=True)
def path(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(
        json.dumps({"path": request.path(), "target": request.rawTarget().decode("latin-1")}),
        content_type="application/json",
    )


# -- files ------------------------------------------------------------------------------------
hwebserver.registerStaticFilesDirectory(FILES, "/static")


@hwebserver.urlHandler("/file")
def file(request: hwebserver.Request) -> hwebserver.Response:
    """fileResponse of the path the query names (`?path=...`, may hold a NUL)."""
    return hwebserver.fileResponse(request.GET()["path"])


@hwebserver.urlHandler("/async-file")
async def async_file(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.fileResponse(request.GET()["path"])


@hwebserver.urlHandler("/pid")
def pid(request: hwebserver.Request) -> str:
    return str(os.getpid())


# -- redirects ---------------------------------------------------------------------------------
def redirect_answer(request: hwebserver.Request, absolute: bool) -> hwebserver.Response:
    """A redirect to `?to=...`, or 400 with redirect()'s ValueError."""
    try:
        if absolute:  # the default, as Houdini's programs call it
            return hwebserver.redirect(request, request.GET()["to"])
        return hwebserver.redirect(request, request.GET()["to"], absolute=False)
    except ValueError as exc:
        return hwebserver.Response(f"refused: {exc}", 400)


@hwebserver.urlHandler("/redirect")
def redirect(request: hwebserver.Request) -> hwebserver.Response:
    return redirect_answer(request, absolute=True)


@hwebserver.urlHandler("/redirect-relative")
def redirect_relative(request: hwebserver.Request) -> hwebserver.Response:
    return redirect_answer(request, absolute=False)


if __name__ == "__main__":
    serve()

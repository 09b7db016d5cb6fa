"""Where plain code runs: handlers that report their thread, block for a while, or keep order."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from harness import serve

import hwebserver

_started: list[str] = []
_lock = threading.Lock()

STATIC = Path(os.environ.get("THREADS_APP_STATIC", "."))
hwebserver.registerStaticFilesDirectory(str(STATIC), "/static")


@hwebserver.urlHandler("/thread")
def thread_name(request: hwebserver.Request) -> str:
    return threading.current_thread().name


@hwebserver.urlHandler("/block")
def block(request: hwebserver.Request) -> str:
    """Sleeps `s` seconds; `tag` is recorded when the call starts (to check queue order)."""
    tag = request.GET().get("tag", "")
    with _lock:
        _started.append(tag)
    time.sleep(float(request.GET().get("s", "1")))
    return f"blocked {tag} pid={os.getpid()}"


@hwebserver.urlHandler("/started")
def started(request: hwebserver.Request) -> str:
    with _lock:
        return ",".join(t for t in _started if t)


@hwebserver.urlHandler("/pid")
async def pid(request: hwebserver.Request) -> str:
    return str(os.getpid())


@hwebserver.urlHandler("/ahello")
async def ahello(request: hwebserver.Request) -> str:
    return "async hello"


class Handle(hwebserver.URLHandler):
    def handle(self, request: hwebserver.Request) -> str:
        return threading.current_thread().name


Handle("/class-thread")


@hwebserver.apiFunction(namespace="t")
def where(request: hwebserver.Request) -> str:
    return threading.current_thread().name


@hwebserver.apiFunction(namespace="t")
def ping(request: hwebserver.Request) -> str:
    return "pong"


@hwebserver.apiFunction(namespace="t")
def long_call(request: hwebserver.Request, seconds: float) -> str:
    time.sleep(float(seconds))
    return f"done pid={os.getpid()}"


def wsgi_app(environ: dict, start_response) -> list[bytes]:  # type: ignore[no-untyped-def]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [threading.current_thread().name.encode()]


hwebserver.registerWSGIApp(wsgi_app, "/wsgi")


if __name__ == "__main__":
    serve()

"""The CPU one request costs a peer app alone, with no server: `python app_alone.py KIND [--requests N]`.

KIND is asgi, starlette, fastapi or flask: the app objects scripts/bench serves (peer_*.py),
asked for the paths its mounted-app workloads ask for. The app is called directly, N times
after a warm-up, each time with a fresh scope (ASGI) or environ (WSGI) carrying what wrk
sends (a GET with a Host header, nothing else), an empty request body and a send() or
start_response that keeps only what the answer check needs. No event loop: an ASGI app's
coroutine is driven with send(None) until it returns; one that waits for anything (it
yields) stops the run with an error, as the figure would then leave out what it waited for.

It prints one JSON line: {"kind", "requests", "cpu_us_per_request"}, the process CPU time
(user + system) of the N calls divided by N. No server can serve the app for less: it is the
lower bound of a server's CPU per request, hence the upper bound of a ratio of servers.
Every answer is checked (status 200 and a body), so a broken driver cannot time a fast nothing.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

# KIND -> (module, path): the path each mounted-app workload of scripts/bench.py requests.
APPS = {
    "asgi": ("peer_asgi", "/"),
    "starlette": ("peer_starlette", "/hello"),
    "fastapi": ("peer_fastapi", "/ahello"),
    "flask": ("peer_flask", "/hello"),
}
WSGI_KINDS = {"flask"}
# wrk's request carries a Host header with the port and nothing else.
HOST = "127.0.0.1:8080"
CLIENT = ("127.0.0.1", 50000)
SERVER = ("127.0.0.1", 8080)
WARMUP_FRACTION = 10  # a tenth of the requests, at least 200, run before the timed ones


class NoAnswer(RuntimeError):
    """The app did not answer 200 with a body: the figure would time something else."""


class Answer:
    """What the app sent for one request: only what the check needs."""

    __slots__ = ("body_bytes", "status")

    def __init__(self) -> None:
        self.status = 0
        self.body_bytes = 0

    def check(self, kind: str) -> None:
        if self.status != 200 or self.body_bytes == 0:
            raise NoAnswer(
                f"{kind}: the app answered status {self.status} with {self.body_bytes} body "
                "bytes, not 200 with a body"
            )


def asgi_scope(path: str) -> dict[str, Any]:
    """A scope as a server builds one for wrk's GET (the keys uvicorn and hwebserver give)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode("ascii"),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", HOST.encode("ascii"))],
        "client": CLIENT,
        "server": SERVER,
        "state": {},  # the three apps support lifespan: both servers then give a state
    }


async def receive() -> dict[str, Any]:
    """The request's (empty) body, as a GET's; a server gives a fresh message each time."""
    return {"type": "http.request", "body": b"", "more_body": False}


def call_asgi(app: Any, path: str, kind: str) -> None:
    """One request through an ASGI app, its coroutine driven by hand, its answer checked."""
    answer = Answer()

    async def send(message: dict[str, Any]) -> None:
        kind_of_message = message["type"]
        if kind_of_message == "http.response.start":
            answer.status = message["status"]
        elif kind_of_message == "http.response.body":
            answer.body_bytes += len(message.get("body", b""))

    coroutine = app(asgi_scope(path), receive, send)
    try:
        coroutine.send(None)
    except StopIteration:
        answer.check(kind)
        return
    coroutine.close()
    raise RuntimeError(
        f"{kind}: the app awaited something that needs an event loop; timing it without "
        "one would leave that out"
    )


def wsgi_environ(path: str) -> dict[str, Any]:
    """An environ as a server builds one for wrk's GET (PEP 3333; the keys hwebserver gives)."""
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": SERVER[0],
        "SERVER_PORT": str(SERVER[1]),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": CLIENT[0],
        "REMOTE_PORT": str(CLIENT[1]),
        "HTTP_HOST": HOST,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def call_wsgi(app: Any, path: str, kind: str) -> None:
    """One request through a WSGI app: start_response, the result iterated then closed."""
    answer = Answer()

    def write(data: bytes) -> None:
        answer.body_bytes += len(data)

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        answer.status = int(status[:3])
        return write

    result: Iterable[bytes] = app(wsgi_environ(path), start_response)
    try:
        for chunk in result:
            answer.body_bytes += len(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    answer.check(kind)


def cpu_us_per_request(kind: str, requests: int) -> float:
    module_name, path = APPS[kind]
    app = importlib.import_module(module_name).app
    call = call_wsgi if kind in WSGI_KINDS else call_asgi
    for _ in range(max(200, requests // WARMUP_FRACTION)):
        call(app, path, kind)
    start = time.process_time()
    for _ in range(requests):
        call(app, path, kind)
    return (time.process_time() - start) / requests * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=sorted(APPS))
    parser.add_argument("--requests", type=int, default=20_000, help="timed calls")
    args = parser.parse_args()
    figure = cpu_us_per_request(args.kind, args.requests)
    print(
        json.dumps({"kind": args.kind, "requests": args.requests, "cpu_us_per_request": figure}),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

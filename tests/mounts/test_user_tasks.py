"""Every kind of async user code runs inside an asyncio task from its first line.

Each kind (an async urlHandler, AsyncURLHandler.handle, an async API function, a raw ASGI app,
a Starlette and a FastAPI endpoint, a FastAPI app with an HTTP middleware, a WebSocket's
connect() and receive(), an ASGI WebSocket, an ASGI lifespan) runs each construct of everyday
async Python that needs a current task (asyncio.timeout, TaskGroup, wait_for, cancelling
itself, anyio's cancel scopes, task groups and threads, an httpx request), in its first step
and after a suspension, through a real service and real clients (tests/apps/task_matrix_app.py).
Before, the first step ran outside any task: every "first" case but connect()'s, the ASGI
WebSocket's and the lifespan's failed, and the FastAPI middleware answered 500 to everything.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from collections.abc import Iterator

import httpx
import pytest
from support import ServerProcess, upstream_server, wait_for
from websockets.asyncio.client import connect as ws_connect
from websockets.sync.client import connect

CONSTRUCTS = (
    "current_task",
    "timeout",
    "task_group",
    "wait_for",
    "cancel_self",
    "fail_after",
    "anyio_task_group",
    "to_thread",
    "httpx",
)
WHEN = ("first", "after")
# Kinds reached with GET /<kind>/<construct>/<when>.
HTTP_KINDS = (
    "handler",
    "async-handler",
    "asgi",
    "starlette",
    "fastapi",
    "fastapi-middleware",
    "lifespan",
    "hook",  # an onWorkerStart hook (it ran at the worker's start; /hook/... answers its outcome)
)


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Iterator[ServerProcess]:
    with upstream_server() as upstream:
        process = ServerProcess(
            "task_matrix_app.py",
            tmp_path_factory.mktemp("user-tasks"),
            env={"MATRIX_UPSTREAM": upstream},
        )
        try:
            process.start()
            yield process
        finally:
            process.stop()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20) as http:
        yield http


def ws_url(srv: ServerProcess, path: str) -> str:
    return f"ws://127.0.0.1:{srv.port}{path}"


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("construct", CONSTRUCTS)
@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_http_kinds(srv, client, kind, construct, when):
    response = client.get(srv.url(f"/{kind}/{construct}/{when}"))
    assert (response.status_code, response.text) == (200, "ok")


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_async_api_function(srv, client, construct, when):
    response = client.post(srv.url("/api"), json=["matrix", [construct, when]])
    assert (response.status_code, response.json()) == (200, "ok")


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_websocket_connect(srv, construct, when):
    with connect(ws_url(srv, f"/ws/connect/{construct}/{when}"), open_timeout=20) as ws:
        assert ws.recv(timeout=20) == "ok"


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_websocket_receive(srv, construct, when):
    with connect(ws_url(srv, "/ws/receive"), open_timeout=20) as ws:
        ws.send(f"{construct}/{when}")
        assert ws.recv(timeout=20) == "ok"
        ws.send(f"{construct}/{when}")  # a second message: a call that is not the first
        assert ws.recv(timeout=20) == "ok"


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_asgi_websocket(srv, construct, when):
    with connect(ws_url(srv, f"/asgi/{construct}/{when}"), open_timeout=20) as ws:
        assert ws.recv(timeout=20) == "ok"


# -- What a client's disconnect does to code still running ----------------------------------
# Decided: request handlers of every kind are left to finish (as plain handlers on threads,
# as uvicorn leaves ASGI apps, which learn of it by http.disconnect); what they answer is
# dropped. A streamed response body is cancelled: nothing reads it any more. A WebSocket's
# receive() finishes, then disconnect() is called.
@pytest.fixture(scope="module")
def disconnects(tmp_path_factory) -> Iterator[ServerProcess]:
    process = ServerProcess("disconnect_app.py", tmp_path_factory.mktemp("disconnects"))
    try:
        process.start()
        yield process
    finally:
        process.stop()


def events(srv: ServerProcess, token: str) -> list[str]:
    return list(httpx.get(srv.url(f"/events/{token}"), timeout=10).json())


def events_once(srv: ServerProcess, token: str, prefix: str) -> list[str]:
    """The events of `token` once one that starts with `prefix` is among them."""

    def recorded() -> list[str] | None:
        seen = events(srv, token)
        return seen if any(event.startswith(prefix) for event in seen) else None

    return wait_for(recorded, timeout=20)


def cut(sock: socket.socket) -> None:
    """The client goes away at once: a reset, not a half-close (after which the server would
    still answer what it was asked)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def release(srv: ServerProcess, token: str) -> None:
    """Let the code of `token` go on (it waits for this, see disconnect_app.work)."""
    assert httpx.get(srv.url(f"/release/{token}"), timeout=10).text == "released"


def request_then_cut(srv: ServerProcess, token: str, data: bytes) -> list[str]:
    """Send a request, wait until its code has started, go away, then release the code; its
    events once it has ended one way or the other."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(data)
        wait_for(lambda: "started" in events(srv, token))
        cut(sock)
    release(srv, token)  # (on a new connection: after the reset, in the server's order too)
    return events_once(srv, token, "finally")


@pytest.mark.parametrize("kind", ["handler", "async-handler"])
def test_a_handler_whose_client_went_away_is_left_to_finish(disconnects, kind):
    token = f"{kind}-{time.monotonic_ns()}"
    request = f"GET /{kind}/{token} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    seen = request_then_cut(disconnects, token, request)
    assert seen[:3] == ["started", "finally", "finished"]
    if kind == "async-handler":  # its send() of the answer nobody reads is no error
        wait_for(lambda: events(disconnects, token)[3:] == ["sent"])


def test_an_asgi_app_whose_client_went_away_learns_it_and_is_left_to_finish(disconnects):
    token = f"asgi-{time.monotonic_ns()}"
    request = f"GET /asgi/{token} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    assert request_then_cut(disconnects, token, request) == [
        "started",
        "receive: http.disconnect",
        "send raised ClientDisconnected",
        "finally",
    ]


def test_an_async_api_function_whose_client_went_away_is_left_to_finish(disconnects):
    token = f"api-{time.monotonic_ns()}"
    body = json.dumps(["slow", [token]]).encode()
    request = (
        b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    assert request_then_cut(disconnects, token, request) == ["started", "finally", "finished"]


def test_a_streamed_body_whose_client_went_away_is_cancelled_and_its_finally_runs(disconnects):
    token = f"stream-{time.monotonic_ns()}"
    request = f"GET /stream/{token} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    assert request_then_cut(disconnects, token, request) == ["started", "cancelled", "finally"]


def test_a_websocket_receive_finishes_then_disconnect_is_called(disconnects):
    token = f"ws-{time.monotonic_ns()}"

    async def scenario() -> None:
        async with ws_connect(ws_url(disconnects, f"/ws/{token}"), open_timeout=20) as ws:
            await ws.send("work")
            await asyncio.to_thread(wait_for, lambda: "started" in events(disconnects, token))
            ws.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            ws.transport.abort()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    release(disconnects, token)
    seen = events_once(disconnects, token, "disconnect")
    assert seen == ["started", "finally", "finished", "disconnect 1006"]

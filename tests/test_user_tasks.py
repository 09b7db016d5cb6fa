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

from collections.abc import Iterator

import httpx
import pytest
from support import ServerProcess, upstream_server
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

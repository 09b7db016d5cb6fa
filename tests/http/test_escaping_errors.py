"""App code on the event loop that raises what is not an Exception.

CancelledError, SystemExit or KeyboardInterrupt out of an ASGI app, an `async def` urlHandler
or an AsyncURLHandler is that request's failure, as any exception is: the client gets a 500
and the log says why. Before, such a request was never answered (the client waited until it
gave up), and a KeyboardInterrupt or SystemExit raised after an `await` stopped the worker
with every other request it held. (Plain handlers on the handler threads already got a 500.)
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from support import ServerProcess, raw_exchange, wait_for
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

KINDS = ("cancelled", "exit", "interrupt")
# A WebSocket's code raising GeneratorExit of its own (not the loop closing its coroutine).
WEBSOCKET_KINDS = (*KINDS, "generator-exit")
WHEN = ("now", "late")  # before the code's first await, or after it
ROUTES = ("asgi", "wrapped", "handler", "async-handler")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    process = ServerProcess("escaping_errors_app.py", tmp_path_factory.mktemp("escaping"))
    try:
        process.start()
        yield process
    finally:
        process.stop()


def logged(srv: ServerProcess, path: str, message: str) -> bool:
    """A log entry about `path` (on its first line) that shows `message`. The server is the
    module's: an entry of another test, for another path, must not count."""
    for entry in re.split(r"\n(?=\d{4}-\d\d-\d\d )", srv.logs()):
        if f"{path} " in entry.partition("\n")[0] and message in entry:
            return True
    return False


def worker_pid(srv: ServerProcess) -> str:
    return httpx.get(srv.url("/pid"), timeout=10).text


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("kind", KINDS)
def test_the_request_gets_a_500_and_the_worker_goes_on(srv, route, when, kind):
    before = worker_pid(srv)
    response = httpx.get(srv.url(f"/{route}/{kind}/{when}"), timeout=10)
    assert response.status_code == 500
    wait_for(lambda: logged(srv, f"/{route}/{kind}/{when}", f"{kind} raised {when} on purpose"))
    assert worker_pid(srv) == before  # the same worker: it did not stop, nor was replaced


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("when", WHEN)
def test_a_generator_exit_raised_by_the_code_is_its_failure_too(srv, route, when):
    """The code's own GeneratorExit, not the loop closing its coroutine."""
    before = worker_pid(srv)
    response = httpx.get(srv.url(f"/{route}/generator-exit/{when}"), timeout=10)
    assert response.status_code == 500
    path, message = f"/{route}/generator-exit/{when}", f"generator-exit raised {when} on purpose"
    wait_for(lambda: logged(srv, path, message))
    assert worker_pid(srv) == before


def test_a_kept_alive_connection_goes_on_after_such_a_failure(srv):
    with httpx.Client(timeout=10) as client:
        assert client.get(srv.url("/asgi/interrupt/late")).status_code == 500
        assert client.get(srv.url("/handler/cancelled/now")).status_code == 500
        assert client.get(srv.url("/pid")).status_code == 200


async def close_code_after_a_message(url: str) -> int | None:
    async with connect(url, open_timeout=10) as ws:
        await ws.send("go")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.protocol.close_rcvd is not None, "closed without a close frame"
        return ws.protocol.close_rcvd.code


@pytest.mark.parametrize("route", ("asgi", "wrapped", "houdini-ws/receive"))
@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("kind", WEBSOCKET_KINDS)
def test_a_websocket_is_closed_with_1011_and_the_worker_goes_on(srv, route, when, kind):
    before = worker_pid(srv)
    url = f"ws://127.0.0.1:{srv.port}/{route}/{kind}/{when}"
    assert asyncio.run(close_code_after_a_message(url)) == 1011
    wait_for(lambda: logged(srv, f"/{route}/{kind}/{when}", f"{kind} raised {when} on purpose"))
    assert worker_pid(srv) == before


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("kind", WEBSOCKET_KINDS)
def test_a_websocket_connect_that_fails_so_is_refused_with_500(srv, kind, when):
    before = worker_pid(srv)
    answer = raw_exchange(
        srv.port,
        f"GET /houdini-ws/connect/{kind}/{when} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode(),
        read_until_close=False,
    )
    assert answer.startswith(b"HTTP/1.1 500"), answer[:80]
    path = f"/houdini-ws/connect/{kind}/{when}"
    wait_for(lambda: logged(srv, path, f"{kind} raised {when} on purpose"))
    assert worker_pid(srv) == before


def test_the_log_shows_what_the_code_raised_from_its_own_frame(srv):
    """A SystemExit is carried as a RuntimeError (so that it stops nothing), but the log shows
    the SystemExit first, its traceback from the app's frame, then the RuntimeError."""
    assert httpx.get(srv.url("/handler/exit/late"), timeout=10).status_code == 500
    wait_for(lambda: "raised RuntimeError" in srv.logs() and "exit raised late" in srv.logs())
    entry = srv.logs().split("handler for GET /handler/exit/late raised RuntimeError\n", 1)[1]
    lines = entry.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert "escaping_errors_app.py" in lines[1], entry
    assert "SystemExit: exit raised late on purpose" in entry


async def echo_once_and_close(url: str) -> None:
    async with connect(url, open_timeout=10) as ws:
        await ws.send("hi")
        assert await asyncio.wait_for(ws.recv(), 10) == "hi"


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("kind", (*KINDS, "generator-exit"))
def test_a_websocket_disconnect_that_fails_so_is_logged(srv, kind, when):
    before = worker_pid(srv)
    url = f"ws://127.0.0.1:{srv.port}/houdini-ws/disconnect/{kind}/{when}"
    asyncio.run(echo_once_and_close(url))
    path = f"/houdini-ws/disconnect/{kind}/{when}"
    wait_for(lambda: logged(srv, path, f"{kind} raised {when} on purpose"))
    assert logged(srv, path, "FailingSocket.disconnect for")
    assert "Task exception was never retrieved" not in srv.logs()
    assert worker_pid(srv) == before

"""run() itself: background and blocking modes, errors, shutdown, debug, logging."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
import threading
import time

import httpx
import pytest
from support import ServerProcess, server, wait_for
from websockets.asyncio.client import connect

import hwebserver
from hwebserver.api.mounts import ASGI
from hwebserver.api.routing import http_routes


@pytest.fixture
def background():
    """run(in_background=True) in this test process; always shut down afterwards."""
    ports: dict[str, int] = {}

    def start(**kwargs):
        kwargs.setdefault("port", 0)
        hwebserver.run(
            in_background=True, port_callback=lambda n, p: ports.__setitem__(n, p), **kwargs
        )
        return ports["main"]

    yield start
    hwebserver.requestShutdown()
    wait_until_stopped()


def wait_until_stopped():
    from hwebserver.worker.process import current

    wait_for(lambda: current.get() is None, timeout=20)


@hwebserver.urlHandler("/in-process/state")
def live_state(request):
    return str(LIVE_STATE["value"])


LIVE_STATE = {"value": 1}


def test_background_mode_returns_and_sees_live_state(background):
    port = background()
    LIVE_STATE["value"] = 41
    assert httpx.get(f"http://127.0.0.1:{port}/in-process/state").text == "41"
    LIVE_STATE["value"] = 42
    assert httpx.get(f"http://127.0.0.1:{port}/in-process/state").text == "42"


def test_background_start_removes_temp_dirs_of_dead_processes(background, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / "hwebserver-req-999999999-x1"  # past any pid_max: long dead
    stale.mkdir()
    (stale / "body-1").write_bytes(b"left by a killed process")
    ours = tmp_path / f"hwebserver-req-{os.getpid()}-x2"  # alive: left alone
    ours.mkdir()
    background()
    assert not stale.exists()
    assert ours.exists()


def lifespan_app(events: list[str], fail: bool = False):
    """A raw ASGI app whose startup puts a greeting in the lifespan state."""

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    events.append("startup")
                    if fail:
                        await send({"type": "lifespan.startup.failed", "message": "no db"})
                        return
                    scope["state"]["greeting"] = "started"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    events.append("shutdown")
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = scope.get("state", {}).get("greeting", "no lifespan").encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


def test_asgi_app_mounted_after_start_gets_its_lifespan(background):
    port = background()
    events: list[str] = []
    failing: list[str] = []
    hwebserver.registerASGIApp(lifespan_app(events), "/late")
    hwebserver.registerASGIApp(lifespan_app(failing, fail=True), "/late-fails")
    try:
        with httpx.Client(timeout=10) as client:
            for _ in range(3):
                assert client.get(f"http://127.0.0.1:{port}/late/x").text == "started"
            assert events == ["startup"]  # once, on the first request
            for _ in range(2):
                assert client.get(f"http://127.0.0.1:{port}/late-fails/x").status_code == 500
            assert failing == ["startup"]
        hwebserver.requestShutdown()
        wait_until_stopped()
        assert events == ["startup", "shutdown"]
    finally:  # the next run() in this process must not start these apps
        http_routes.remove_kind(ASGI)


def test_asgi_websocket_receive_after_disconnect_repeats_the_disconnect(background):
    port = background()
    received: list[str] = []

    async def app(scope, receive, send):
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass
        received.append("disconnect")
        again = await asyncio.wait_for(receive(), 5)  # used to wait forever
        received.append(again["type"])

    hwebserver.registerASGIApp(app, "/ws-after")
    try:

        async def client() -> None:
            async with connect(f"ws://127.0.0.1:{port}/ws-after/x", proxy=None) as ws:
                await ws.send("bye")

        asyncio.run(client())
        wait_for(lambda: len(received) == 2)
        assert received == ["disconnect", "websocket.disconnect"]
    finally:
        http_routes.remove_kind(ASGI)


def test_second_run_while_running_raises(background):
    background()
    with pytest.raises(hwebserver.OperationFailed):
        hwebserver.run(in_background=True, port=0)


def test_second_run_after_shutdown_works_on_the_same_port(background):
    port = background()
    hwebserver.requestShutdown()
    wait_until_stopped()
    assert background(port=port) == port
    assert httpx.get(f"http://127.0.0.1:{port}/in-process/state").status_code == 200


def test_busy_port_raises_operation_failed_naming_port_and_reason():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(hwebserver.OperationFailed) as caught:
            hwebserver.run(in_background=True, port=port)
    message = str(caught.value)
    assert str(port) in message and "in use" in message.lower()


def test_is_in_debug_mode(background):
    background(debug=True)
    assert hwebserver.isInDebugMode()
    hwebserver.requestShutdown()
    wait_until_stopped()
    background(debug=False)
    assert not hwebserver.isInDebugMode()


def test_in_background_none_follows_interactivity():
    from hwebserver.supervisor.options import resolve_in_background

    assert resolve_in_background(None) is bool(sys.flags.interactive or hasattr(sys, "ps1"))
    assert resolve_in_background(True) is True and resolve_in_background(False) is False


def test_blocking_run_stops_on_sigterm_and_finishes_in_flight(tmp_path):
    process = ServerProcess("echo_app.py", tmp_path).start()
    try:
        result: dict[str, object] = {}

        def slow_request():
            result["response"] = httpx.get(process.url("/sleep?s=2"), timeout=30)

        thread = threading.Thread(target=slow_request)
        thread.start()
        wait_for(lambda: "slept" not in process.logs() and _peak_running(process))
        process.signal(signal.SIGTERM)
        thread.join(timeout=30)
        assert result["response"].status_code == 200
        assert process.wait(30) == 0
    finally:
        process.stop()


def _peak_running(process: ServerProcess) -> bool:
    try:
        return httpx.get(process.url("/peak"), timeout=5).text == "1"
    except httpx.HTTPError:
        return False


def test_request_shutdown_from_a_handler_ends_blocking_run(tmp_path):
    process = ServerProcess("echo_app.py", tmp_path).start()
    try:
        assert httpx.get(process.url("/shutdown")).text == "shutting down"
        assert process.wait(30) == 0
    finally:
        process.stop()


def test_debug_puts_traceback_in_body_and_log(tmp_path):
    with server(tmp_path, debug=True) as srv:
        response = httpx.get(srv.url("/boom"))
        assert response.status_code == 500
        assert "Traceback" in response.text and "secret-detail-in-exception" in response.text
        wait_for(lambda: "Traceback" in srv.logs())


def test_high_verbosity_logs_one_access_line_per_request(tmp_path):
    with server(tmp_path, verbosity=2) as srv:
        httpx.get(srv.url("/hello?q=1"))
        httpx.get(srv.url("/missing"))
        line = wait_for(lambda: [ln for ln in srv.logs().splitlines() if '"GET /hello?q=1"' in ln])[
            0
        ]
        assert "127.0.0.1:" in line and " 200 13 " in line and line.endswith("ms")
        wait_for(lambda: '"GET /missing" 404' in srv.logs())


def test_low_verbosity_logs_no_access_lines(tmp_path):
    with server(tmp_path) as srv:
        httpx.get(srv.url("/hello"))
        time.sleep(0.2)
        assert '"GET /hello"' not in srv.logs()

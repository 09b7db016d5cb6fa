"""An idle keep-alive connection times out on the worker's clock; a request that has already
reached the server on it must be answered, not reset (a reverse proxy such as nginx reuses
its idle upstream connections and does not retry a POST that fails on one)."""

from __future__ import annotations

import socket
import time

import pytest
from support import ServerProcess, read_all, read_response, wait_for

POST = b"POST /ahello HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"
GET = b"GET /ahello HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture
def srv(tmp_path):
    process = ServerProcess(
        "busy_loop_app.py", tmp_path, {"workers": 1, "settings": {"KEEPALIVE_TIMEOUT": 1}}
    )
    process.start()
    yield process
    process.stop()


def _date(sock: socket.socket) -> str:
    sock.sendall(GET)
    return read_response(sock)[1]["date"]


def _wait_for_a_tick(port: int) -> None:
    """Return just after the worker's clock ticked: the Date header it sends changes then."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        first = _date(sock)
        wait_for(lambda: _date(sock) != first, timeout=5, interval=0.01)


def test_a_request_received_while_the_loop_was_busy_is_answered_at_the_keep_alive_timeout(srv):
    """KEEPALIVE_TIMEOUT=1 (closed at the second tick idle). The connection goes idle at tick k;
    the loop stalls from after tick k+1 until past tick k+2, and the request comes during the
    stall. When the loop runs again the overdue tick finds the connection idle for two ticks,
    with the request already in its socket: it must be read and answered, not cut."""
    _wait_for_a_tick(srv.port)
    ticked = time.monotonic()
    with socket.create_connection(("127.0.0.1", srv.port)) as idle:
        idle.sendall(GET)
        assert read_response(idle)[0] == 200  # idle from tick k on
        with socket.create_connection(("127.0.0.1", srv.port)) as staller:
            time.sleep(max(0.0, ticked + 1.3 - time.monotonic()))  # past tick k+1
            staller.sendall(b"GET /stall?seconds=1.5 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.3)  # the loop is stalled now, across tick k+2
            idle.sendall(POST)
            assert read_response(staller, timeout=15)[0] == 200
            status, _, body = read_response(idle, timeout=15)
    assert (status, body) == (200, b"hello")


def test_an_idle_connection_still_closes_at_the_keep_alive_timeout(srv):
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(GET)
        read_response(sock)
        started = time.monotonic()
        assert read_all(sock, timeout=15) == b""
        assert time.monotonic() - started < 10

"""ASGI WebSockets are held to what hwebserver's own are: a client cannot make a slow app
buffer without bound, and an idle client that stopped answering is pinged, then closed."""

from __future__ import annotations

import os
import socket

import pytest
from support import ServerProcess
from test_websocket import answer_pings, assert_pinged_then_closed, raw_websocket

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    root = tmp_path_factory.mktemp("asgi-ws-limits")
    settings = {"WEBSOCKET_PING_INTERVAL": 0.5, "WEBSOCKET_PING_TIMEOUT": 1.0}
    with ServerProcess(
        "asgi_apps.py", root, {"settings": settings}, expect_ports=("main", "other")
    ) as process:
        yield process


def masked_binary_frame(size: int) -> bytes:
    mask = os.urandom(4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(bytes(size)))
    return bytes([0x82, 0x80 | 127]) + size.to_bytes(8, "big") + mask + payload


def send_until_blocked(sock: socket.socket, frame: bytes, limit: int = 64 * MiB) -> int:
    """Send `frame` again and again until a send stays blocked half a second (the server
    stopped reading) or `limit` bytes went in; how many did."""
    sent = 0
    sock.settimeout(0.5)
    try:
        while sent < limit:
            sock.sendall(frame)
            sent += len(frame)
    except TimeoutError:
        pass
    return sent


def test_a_client_flooding_an_app_that_does_not_receive_is_held_back(srv):
    # The app does not receive() for two seconds: the server must stop reading, and the
    # client's sends block once the kernel's buffers are full, long before 64 MiB.
    sock, _ = raw_websocket(srv.port, "/raw/ws-lazy")
    frame = masked_binary_frame(64 * 1024)
    with sock:
        sent = send_until_blocked(sock, frame)
    assert sent < 32 * MiB, f"{sent // MiB} MiB went in while the app received nothing"


def test_a_client_cannot_pour_data_in_before_the_app_accepts(srv):
    # The app takes a second to accept: what the client sends meanwhile waits in the kernel.
    handshake = (
        f"GET /raw/ws-slow-accept HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    frame = masked_binary_frame(64 * 1024)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(handshake)
        sent = send_until_blocked(sock, frame)
    assert sent < 32 * MiB, f"{sent // MiB} MiB went in before the app accepted"


def test_a_silent_client_is_pinged_then_closed(srv):
    assert_pinged_then_closed(srv.port, "/raw/ws-lazy")


def test_a_client_that_answers_pings_stays_connected(srv):
    sock, protocol = raw_websocket(srv.port, "/raw/ws-lazy")
    with sock:
        sock.settimeout(10)
        answer_pings(sock, protocol, 3)

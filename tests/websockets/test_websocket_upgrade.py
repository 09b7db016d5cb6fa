"""The upgrade itself, for both kinds of WebSocket: what arrives in the same TCP segment as the
handshake belongs to the WebSocket, however much of it there is."""

from __future__ import annotations

import os
import socket

import pytest
from support import ServerProcess
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

ECHOES = {
    "WebSocket class": "websocket_echo.py",  # hwebserver.WebSocket at /
    "ASGI app": "asgi_websocket_echo.py",  # registerASGIApp at /
}


def masked_binary_frame(payload: bytes) -> bytes:
    """A client's binary frame (masked, as RFC 6455 requires of clients), 126..65535 bytes."""
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([0x82, 0x80 | 126]) + len(payload).to_bytes(2, "big") + mask + masked


@pytest.fixture(scope="module", params=sorted(ECHOES))
def echo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    with ServerProcess(ECHOES[request.param], tmp_path_factory.mktemp("upgrade")) as process:
        yield process


def test_frames_sent_with_the_handshake_are_echoed(echo: ServerProcess) -> None:
    """Handshake and 40 KiB of frames in one write: the parser stops at the end of the head,
    the rest is the WebSocket's (once, a 400 'no request line' was written into the stream
    when the segment ran past MAX_REQUEST_LINE)."""
    protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{echo.port}/"))
    protocol.send_request(protocol.connect())
    messages = [os.urandom(1024) for _ in range(40)]
    frames = b"".join(masked_binary_frame(message) for message in messages)
    with socket.create_connection(("127.0.0.1", echo.port), timeout=15) as sock:
        sock.sendall(b"".join(protocol.data_to_send()) + frames)  # one segment, if it can
        echoed: list[bytes] = []
        while len(echoed) < len(messages):
            data = sock.recv(65536)
            assert data, f"closed after {len(echoed)} echoes"
            assert b"HTTP/1.1 400" not in data
            protocol.receive_data(data)
            for event in protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.BINARY:
                    echoed.append(bytes(event.data))
    assert echoed == messages

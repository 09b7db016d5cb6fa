"""The WebSocket class on its own: shapes told apart by signature, send()'s types, errors.

The channel below stands for the worker's connection (tested through real sockets in
test_websocket.py); here it records what the WebSocket asked of it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import hwebserver
from hwebserver.api.websocket import WebSocketEndpoint, settle


class RecordingChannel:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def accept(self, subprotocol: str | None) -> None:
        self.calls.append(("accept", subprotocol))

    def send_message(self, payload: bytes, is_text: bool) -> bool:
        self.calls.append(("send", payload, is_text))
        return False

    def encode(self, payload: bytes, is_text: bool) -> bytes:
        return payload

    def send_frame(self, frame: bytes, payload: bytes, is_text: bool) -> bool:
        return self.send_message(payload, is_text)

    async def drain(self) -> None:
        raise AssertionError("not behind: drain() is not awaited")

    async def close(self, code: int, reason: str) -> None:
        self.calls.append(("close", code, reason))


def attached(cls: type[hwebserver.WebSocket]) -> tuple[hwebserver.WebSocket, RecordingChannel]:
    socket = cls()
    channel = RecordingChannel()
    socket.attach(channel, None)  # type: ignore[arg-type]
    return socket, channel


def test_send_picks_text_or_binary():
    socket, channel = attached(hwebserver.WebSocket)

    async def scenario() -> None:
        await socket.send("é")
        await socket.send(b"\x00")
        await socket.send(bytearray(b"ab"))
        await socket.send("as bytes", is_binary=True)
        await socket.send(b"as text", is_binary=False)

    asyncio.run(scenario())
    assert channel.calls == [
        ("send", "é".encode(), True),
        ("send", b"\x00", False),
        ("send", b"ab", False),
        ("send", b"as bytes", False),
        ("send", b"as text", True),
    ]


def test_send_refuses_what_it_cannot_send():
    socket, _ = attached(hwebserver.WebSocket)
    with pytest.raises(ValueError, match="UTF-8"):
        asyncio.run(socket.send(b"\xff", is_binary=False))
    with pytest.raises(TypeError, match="int"):
        asyncio.run(socket.send(42))  # type: ignore[arg-type]


def test_send_takes_channels_keywords():
    socket, channel = attached(hwebserver.WebSocket)

    async def scenario() -> None:
        await socket.send(text_data="é")
        await socket.send(text_data="")
        await socket.send(bytes_data=b"\x00")
        await socket.send(bytes_data=bytearray(b"ab"))
        await socket.send(data="as data")

    asyncio.run(scenario())
    assert channel.calls == [
        ("send", "é".encode(), True),
        ("send", b"", True),
        ("send", b"\x00", False),
        ("send", b"ab", False),
        ("send", b"as data", True),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "one of data, text_data or bytes_data; got none"),
        ({"text_data": "a", "bytes_data": b"b"}, "got text_data and bytes_data"),
        ({"data": "a", "text_data": "a"}, "got data and text_data"),
        ({"text_data": "a", "is_binary": True}, "is_binary goes with data"),
        ({"text_data": b"a"}, r"text_data=...\) takes str, not bytes"),
        ({"bytes_data": "a"}, r"bytes_data=...\) takes bytes, not str"),
    ],
)
def test_send_refuses_both_or_neither_keyword(kwargs, message):
    socket, channel = attached(hwebserver.WebSocket)
    with pytest.raises(TypeError, match=message):
        asyncio.run(socket.send(**kwargs))
    assert channel.calls == []


def test_a_websocket_not_attached_says_so():
    with pytest.raises(hwebserver.OperationFailed, match="not attached"):
        asyncio.run(hwebserver.WebSocket().close())


def test_default_connect_accepts():
    socket, channel = attached(hwebserver.WebSocket)
    asyncio.run(WebSocketEndpoint(hwebserver.WebSocket).connect(socket, None))  # type: ignore[arg-type]
    assert channel.calls == [("accept", None)]


def test_shapes_are_told_apart_by_signature():
    seen: list[Any] = []

    class Houdini20(hwebserver.WebSocket):
        async def connect(self, request):
            seen.append(("connect", request))

        async def receive(self, text_data=None, bytes_data=None):
            seen.append(("receive", text_data, bytes_data))

        async def disconnect(self, code):
            seen.append(("disconnect", code))

    class Houdini19(hwebserver.WebSocket):
        async def connect(self):
            seen.append(("connect19",))

        async def receive(self, message):
            seen.append(("receive19", message))

        async def disconnect(self):
            seen.append(("disconnect19",))

    class Keywords(hwebserver.WebSocket):
        def receive(self, **kwargs):  # a plain method works too
            seen.append(("kwargs", kwargs))

    async def drive(cls: type[hwebserver.WebSocket]) -> None:
        endpoint = WebSocketEndpoint(cls)
        socket = endpoint()
        await endpoint.connect(socket, "REQUEST")  # type: ignore[arg-type]
        await settle(endpoint.receive(socket, "text"))
        await settle(endpoint.receive(socket, b"bytes"))
        await endpoint.disconnect(socket, 1001)

    asyncio.run(drive(Houdini20))
    asyncio.run(drive(Houdini19))
    seen_before = len(seen)
    socket, _ = attached(Keywords)
    endpoint = WebSocketEndpoint(Keywords)
    assert endpoint.receive(socket, "k") is None  # a plain method, called at once
    assert seen[:seen_before] == [
        ("connect", "REQUEST"),
        ("receive", "text", None),
        ("receive", None, b"bytes"),
        ("disconnect", 1001),
        ("connect19",),
        ("receive19", "text"),
        ("receive19", b"bytes"),
        ("disconnect19",),
    ]
    assert seen[seen_before:] == [("kwargs", {"text_data": "k", "bytes_data": None})]


def test_webSocket_registers_subclasses_only():
    with pytest.raises(TypeError, match=r"subclass of hwebserver\.WebSocket"):
        hwebserver.webSocket("/not-a-websocket")(object)  # type: ignore[arg-type]

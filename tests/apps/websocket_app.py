"""WebSocket service for the tests: echo in both Houdini shapes, refusals, failures, closes.

Every connect/disconnect is appended as a JSON line to HWEBSERVER_TEST_EVENTS (when set), so
a test can check what the handlers saw even after the server process has exited.
"""

from __future__ import annotations

import asyncio
import json
import os

from harness import serve

import hwebserver

_sent = {"count": 0}


def record(**event: object) -> None:
    path = os.environ.get("HWEBSERVER_TEST_EVENTS")
    if path:
        with open(path, "a") as file:
            file.write(json.dumps(event) + "\n")


@hwebserver.webSocket("/ws/echo", is_prefix=True)
class Echo(hwebserver.WebSocket):
    async def connect(self, request: hwebserver.Request) -> None:
        record(event="connect", path=request.path())
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            if text_data.startswith("close:"):
                code, _, reason = text_data[len("close:") :].partition(":")
                await self.close(int(code), reason)
                return
            await self.send(text_data)
        else:
            assert bytes_data is not None
            await self.send(bytes_data)

    async def disconnect(self, code: int) -> None:
        record(event="disconnect", path=self.request.path(), code=code)


@hwebserver.webSocket("/ws/channels-echo")
class ChannelsEcho(hwebserver.WebSocket):
    """Written as for Django Channels: send() with the names receive() gets."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            await self.send(text_data=text_data.upper())
        else:
            await self.send(bytes_data=bytes_data)


@hwebserver.webSocket("/ws/houdini19")
class Houdini19Echo(hwebserver.WebSocket):
    async def connect(self) -> None:
        record(event="connect19", path=self.request.path())
        await self.accept()

    async def receive(self, message) -> None:  # type: ignore[override]
        await self.send(message)

    async def disconnect(self) -> None:  # type: ignore[override]
        record(event="disconnect19", path=self.request.path())


@hwebserver.webSocket("/ws/deny")
class Deny(hwebserver.WebSocket):
    async def connect(self, request: hwebserver.Request) -> None:
        record(event="denied", path=request.path())  # returns without accepting


@hwebserver.webSocket("/ws/deny-close")
class DenyWithClose(hwebserver.WebSocket):
    async def connect(self, request: hwebserver.Request) -> None:
        await self.close(4001)


@hwebserver.webSocket("/ws/connect-raises")
class ConnectRaises(hwebserver.WebSocket):
    async def connect(self, request: hwebserver.Request) -> None:
        raise RuntimeError("secret-connect-failure")


@hwebserver.webSocket("/ws/receive-raises")
class ReceiveRaises(hwebserver.WebSocket):
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data == "boom":
            raise RuntimeError("secret-receive-failure")
        await self.send(f"ok {text_data}")

    async def disconnect(self, code: int) -> None:
        record(event="disconnect", path=self.request.path(), code=code)


@hwebserver.webSocket("/ws/subprotocol")
class Subprotocol(hwebserver.WebSocket):
    async def connect(self, request: hwebserver.Request) -> None:
        await self.accept(subprotocol="chat.v2")


@hwebserver.webSocket("/ws/greet")
class Greet(hwebserver.WebSocket):
    """Sends from connect(), right after accepting."""

    async def connect(self, request: hwebserver.Request) -> None:
        await self.accept()
        await self.send(f"hello {request.GET().get('name', 'anonymous')}")


@hwebserver.webSocket("/ws/flood")
class Flood(hwebserver.WebSocket):
    """'N SIZE': send N binary messages of SIZE bytes; each completed send() is counted."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        assert text_data is not None
        count, size = (int(part) for part in text_data.split())
        payload = b"x" * size
        for _ in range(count):
            await self.send(payload)
            _sent["count"] += 1
        await self.send("done")


@hwebserver.webSocket("/ws/order")
class Order(hwebserver.WebSocket):
    """Slow receive(): the echo must still come back in order, one call at a time."""

    busy = False

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        assert not self.busy, "receive() called while the previous call was running"
        self.busy = True
        await asyncio.sleep(0.001)
        self.busy = False
        await self.send(text_data or "")


ROOM: set[hwebserver.WebSocket] = set()


@hwebserver.webSocket("/ws/room")
class Room(hwebserver.WebSocket):
    """WebSocket.broadcast(): a message to every member of the room (the sender too), then
    'sent to N' to the sender; 'bytes:...' goes as a binary message. Left-behind members
    (closed ones) stay in ROOM on purpose: broadcast() must skip them."""

    async def connect(self, request: hwebserver.Request) -> None:
        await self.accept()
        ROOM.add(self)
        await self.send(f"members {len(ROOM)}")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        assert text_data is not None
        if text_data.startswith("bytes:"):
            count = await hwebserver.WebSocket.broadcast(ROOM, text_data[6:].encode())
        else:
            count = await hwebserver.WebSocket.broadcast(ROOM, text_data)
        await self.send(f"sent to {count}")


@hwebserver.urlHandler("/sent")
def sent(request: hwebserver.Request) -> str:
    return str(_sent["count"])


@hwebserver.urlHandler("/hello")
def hello(request: hwebserver.Request) -> str:
    return "Hello, world!"


if __name__ == "__main__":
    serve()

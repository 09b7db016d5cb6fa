"""The floor of a fan-out, not a server anyone would run: `python fanout_floor.py PORT`
(scripts/bench_fanout.py). Raw uvloop protocols answer the WebSocket handshake, then every
frame a client sends (its payload under 126 bytes, as the bench's are) is unmasked and the same
unmasked frame is written to every connection: one transport.write() per client and nothing
else (no protocol state, no checks, no close handshake). What a fan-out costs below any
WebSocket library: mostly the kernel's send."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import signal
import sys

import uvloop

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B5B"
OPEN: set[asyncio.Transport] = set()


class FloorProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            OPEN.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        if not self.upgraded:
            head, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            keys = [
                line.split(b":", 1)[1].strip()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            ]
            if not keys:  # the bench's readiness probe
                self.transport.write(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n")
                self.transport.close()
                return
            key = keys[0]
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            self.upgraded = True
            OPEN.add(self.transport)
            self.buffer = rest
        while len(self.buffer) >= 6:
            length = self.buffer[1] & 0x7F
            if len(self.buffer) < 6 + length:
                return
            mask, payload = self.buffer[2:6], self.buffer[6 : 6 + length]
            self.buffer = self.buffer[6 + length :]
            text = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            frame = bytes([0x81, length]) + text
            for transport in OPEN:
                transport.write(frame)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set_result, None)
    server = await loop.create_server(FloorProtocol, "127.0.0.1", port, backlog=4096)
    await stop
    server.close()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))

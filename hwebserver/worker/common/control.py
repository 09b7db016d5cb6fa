"""The control pipe between a worker and its supervisor: small framed messages, both ways.

A frame is a 4-byte big-endian length followed by a JSON object with a "kind". Defined here,
in the lowest package that speaks it; the supervisor imports it.

worker -> supervisor: READY, HEARTBEAT, SHUTDOWN (requestShutdown() was called), BOOT_FAILED,
METRICS_QUERY (a scrape of /metrics).
supervisor -> worker: DRAIN (with a mode), STOP, METRICS (the answer), UNREADY (a graceful
shutdown began: /readyz answers 503).
"""

from __future__ import annotations

import json
import struct
from typing import Any

READY = "ready"  # pid, sources (the application's loaded source files)
HEARTBEAT = "heartbeat"  # served, in_flight, lag (seconds), rss (bytes)
SHUTDOWN = "shutdown"  # stop the whole server
BOOT_FAILED = "boot_failed"  # error (text with the traceback), summary (its one line)
DRAIN = "drain"  # mode: RETIRE or SHUTDOWN_MODE
STOP = "stop"  # cut everything now and exit
METRICS_QUERY = "metrics_query"  # id
METRICS = "metrics"  # id, snapshot (see supervisor/metrics.py)
UNREADY = "unready"  # the service is shutting down

# DRAIN modes. RETIRE: another generation serves the same sockets, so idle keep-alive
# connections are left to come back once more (answered with Connection: close) or to time
# out, never closed under a client that may be sending. SHUTDOWN_MODE: nobody takes over;
# idle connections are closed at once.
RETIRE = "retire"
SHUTDOWN_MODE = "shutdown"

_HEADER = struct.Struct(">I")
MAX_FRAME = 4 * 1024 * 1024

Message = dict[str, Any]


class ControlProtocolError(Exception):
    """The peer sent something that is not a frame of this protocol."""


def encode(kind: str, **fields: Any) -> bytes:
    payload = json.dumps({"kind": kind, **fields}, separators=(",", ":")).encode("utf-8")
    if len(payload) > MAX_FRAME:
        raise ValueError(f"control message {kind!r} too large ({len(payload)} bytes)")
    return _HEADER.pack(len(payload)) + payload


class FrameDecoder:
    """Feed it bytes as they arrive; it returns the complete messages."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        messages: list[Message] = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME:
                raise ControlProtocolError(f"frame of {size} bytes exceeds {MAX_FRAME}")
            end = _HEADER.size + size
            if len(self._buffer) < end:
                break
            payload = bytes(self._buffer[_HEADER.size : end])
            del self._buffer[:end]
            try:
                message = json.loads(payload)
            except ValueError as exc:
                raise ControlProtocolError(f"undecodable frame: {exc}") from exc
            if not isinstance(message, dict) or not isinstance(message.get("kind"), str):
                raise ControlProtocolError(f"frame without a kind: {payload[:80]!r}")
            messages.append(message)
        return messages

"""Receive fast path: the common client frame decoded here, every other one by the protocol.

Most frames a server receives are whole text or binary messages: FIN set, no reserved bits
(no extension), masked as RFC 6455 requires, small. For those the `websockets` sans-I/O
protocol builds a generator step, a Frame object and its checks per frame; here they cost a
header test and an unmask. Everything else (control frames, fragments, unmasked or oversized
frames, reserved bits, any frame once the connection is closing, a negotiated extension) goes
to the protocol unchanged, frame by frame, so its behaviour (the pong, the close, the failure
and its close code) stays the protocol's own. To feed the protocol whole frames from a frame
boundary, this reader follows the frame layout of every byte it forwards.

The result of one read is the list of what the protocol would have returned: messages
decoded here (str or bytes) and Frame events of the protocol, in arrival order. A text frame
that is not valid UTF-8 is returned as a Frame, so that the caller fails it exactly as it
fails one the protocol parsed.
"""

from __future__ import annotations

from typing import cast

from websockets.frames import TEXT, Frame
from websockets.protocol import OPEN, Protocol

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets built without its C extension
    from websockets.utils import apply_mask

_TEXT_FIN = 0x81
_BINARY_FIN = 0x82
_MASKED = 0x80
_LENGTH_16 = 126
_LENGTH_64 = 127
_MEDIUM_LIMIT = 0xFFFF  # the largest payload a 16-bit length describes

Received = str | bytes | Frame


def frame_size(data: bytes, pos: int) -> int:
    """Bytes of the frame starting at data[pos] (header, mask, payload); 0 while its header
    is incomplete. Pure layout: valid or not is the protocol's business."""
    available = len(data) - pos
    if available < 2:
        return 0
    second = data[pos + 1]
    length = second & 0x7F
    header = 2
    if length == _LENGTH_16:
        header = 4
        if available < 4:
            return 0
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
    elif length == _LENGTH_64:
        header = 10
        if available < 10:
            return 0
        length = int.from_bytes(data[pos + 2 : pos + 10], "big")
    if second & _MASKED:
        header += 4
    return header + length


class FrameReader:
    """Reads one connection's incoming bytes; see the module docstring."""

    __slots__ = ("forwarded", "held", "limit", "owed", "partial_head", "ws")

    def __init__(self, ws: Protocol) -> None:
        self.ws = ws
        # The largest payload taken here: what the protocol accepts as a first frame (its
        # limits are set once, at the handshake), at most what a 16-bit length describes.
        limits = (ws.max_message_size, ws.max_fragment_size, _MEDIUM_LIMIT)
        self.limit = min(limit for limit in limits if limit is not None)
        # The start of a common frame not complete yet: not given to the protocol.
        self.held = b""
        # Bytes the protocol still needs to finish the frame it is in (it is mid-frame).
        self.owed = 0
        # The start of a frame given to the protocol whose header is incomplete (size unknown).
        self.partial_head = b""
        # The last receive() gave the protocol bytes: it may have something to send.
        self.forwarded = False

    def receive(self, data: bytes) -> list[Received]:
        """Messages and protocol events in `data`, in order (see the module docstring)."""
        received: list[Received] = []
        self.forwarded = False
        if self.partial_head or self.owed:
            data = self._continue_frame(data, received)
        if self.held:
            data = self.held + data
            self.held = b""
        ws = self.ws
        limit = self.limit
        pos = 0
        end = len(data)
        while pos < end:
            # Only the protocol changes these, so they are checked again after it was fed.
            if (
                ws.state is not OPEN
                or ws.current_size is not None  # a fragmented message is open
                or ws.extensions
                or ws.debug  # the protocol logs each frame
            ):
                self._forward(data[pos:] if pos else data, received)
                return received
            while pos < end:  # common frames, one after the other
                if end - pos < 2:
                    self.held = data[pos:]
                    return received
                first = data[pos]
                second = data[pos + 1]
                if not ((first == _TEXT_FIN or first == _BINARY_FIN) and second & _MASKED):
                    break
                length = second & 0x7F
                if length < _LENGTH_16:
                    start = pos + 6
                elif length == _LENGTH_16:
                    if end - pos < 4:
                        self.held = data[pos:]
                        return received
                    length = (data[pos + 2] << 8) | data[pos + 3]
                    start = pos + 8
                else:
                    break  # a 64-bit length: not a small frame
                if length > limit:
                    break
                stop = start + length
                if stop > end:
                    self.held = data[pos:]
                    return received
                payload = apply_mask(data[start:stop], data[start - 4 : start])
                if first == _TEXT_FIN:
                    try:
                        received.append(payload.decode("utf-8"))
                    except UnicodeDecodeError:
                        received.append(Frame(TEXT, payload))
                else:
                    received.append(payload)
                pos = stop
            else:
                return received
            pos = self._forward_frame(data, pos, received)
        return received

    def flush_to_protocol(self) -> None:
        """Give the protocol the bytes held back (before it is told the stream ended)."""
        if self.held:
            held, self.held = self.held, b""
            self.ws.receive_data(held)

    def _forward(self, data: bytes, received: list[Received]) -> None:
        """Give the protocol all of `data`, which starts at a frame boundary."""
        pos = 0
        end = len(data)
        while pos < end:
            pos = self._forward_frame(data, pos, received)

    def _forward_frame(self, data: bytes, pos: int, received: list[Received]) -> int:
        """Give the protocol the frame at data[pos] (or what of it arrived); the next pos."""
        size = frame_size(data, pos)
        end = len(data)
        if size == 0:
            self.partial_head = data[pos:]
            stop = end
        elif pos + size > end:
            self.owed = pos + size - end
            stop = end
        else:
            stop = pos + size
        self._feed(data[pos:stop] if pos or stop != end else data, received)
        return stop

    def _continue_frame(self, data: bytes, received: list[Received]) -> bytes:
        """Give the protocol the rest of the frame it is in; what follows that frame."""
        if self.partial_head:
            head = self.partial_head + data
            size = frame_size(head, 0)
            if size == 0:
                self.partial_head = head
                self._feed(data, received)
                return b""
            self.owed = size - len(self.partial_head)
            self.partial_head = b""
        owed = self.owed
        if owed >= len(data):
            self.owed = owed - len(data)
            self._feed(data, received)
            return b""
        self.owed = 0
        self._feed(data[:owed], received)
        return data[owed:]

    def _feed(self, data: bytes, received: list[Received]) -> None:
        self.forwarded = True
        ws = self.ws
        ws.receive_data(data)
        # Only frames: the connection's HTTP request was parsed before the protocol existed.
        received.extend(cast("list[Frame]", ws.events_received()))

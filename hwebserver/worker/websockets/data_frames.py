"""Data frames a server sends, written directly when no extension applies.

The `websockets` sans-I/O protocol builds a Frame object and serializes it through every
negotiated extension: six times the cost of the few bytes an unmasked, unextended server
frame is (RFC 6455 section 5.2). With permessage-deflate negotiated, the protocol does it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from websockets.protocol import Protocol

TEXT = 0x81  # FIN and opcode 1
BINARY = 0x82  # FIN and opcode 2
_SMALL = 126
_MEDIUM = 1 << 16
_COPY_LIMIT = 64 * 1024  # past this, the payload goes out beside its head, not copied


# The heads of small text and binary frames, made once: most messages are small.
_TEXT_HEADS = [bytes((TEXT, length)) for length in range(_SMALL)]
_BINARY_HEADS = [bytes((BINARY, length)) for length in range(_SMALL)]


def frame_head(first_byte: int, length: int) -> bytes:
    if length < _SMALL:
        return bytes((first_byte, length))
    if length < _MEDIUM:
        return struct.pack("!BBH", first_byte, 126, length)
    return struct.pack("!BBQ", first_byte, 127, length)


def write_data_frame(transport: Any, payload: bytes, is_text: bool) -> None:
    """One whole (FIN) text or binary message, unmasked, as a server sends it."""
    size = len(payload)
    if size < _SMALL:
        transport.write((_TEXT_HEADS if is_text else _BINARY_HEADS)[size] + payload)
        return
    head = frame_head(TEXT if is_text else BINARY, size)
    if size <= _COPY_LIMIT:
        transport.write(head + payload)
    else:
        transport.writelines((head, payload))


def encode_data_frame(payload: bytes, is_text: bool) -> bytes:
    """The whole (FIN) frame of a message, unmasked: head and payload in one bytes."""
    size = len(payload)
    if size < _SMALL:
        return (_TEXT_HEADS if is_text else _BINARY_HEADS)[size] + payload
    return frame_head(TEXT if is_text else BINARY, size) + payload


def send_data(
    ws: Protocol, transport: Any, payload: bytes, is_text: bool, flush: Callable[[], None]
) -> None:
    """Send one whole message on an open connection. `flush` writes what `ws` has queued."""
    if ws.extensions:  # permessage-deflate: the protocol compresses the frame
        if is_text:
            ws.send_text(payload)
        else:
            ws.send_binary(payload)
        flush()
    else:
        if ws.writes:  # what the protocol queued (a pong) goes first
            flush()
        write_data_frame(transport, payload, is_text)

"""Whole messages from the data frames of the websockets protocol.

The sans-I/O protocol validates frames (masking, opcodes, continuation order, sizes,
permessage-deflate) but hands over frames, not messages: joining fragments and decoding text
is the I/O layer's job. Text is checked fragment by fragment, so invalid UTF-8 fails the
connection as soon as it arrives rather than when the message ends. Fragments accumulate in
one bytearray: a flood of tiny fragments costs no more memory than their payload.
"""

from __future__ import annotations

import codecs

from websockets.frames import BINARY, CONT, TEXT, Frame

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


class MessageAssembler:
    """feed() frames in order; it returns each message once its last frame arrived."""

    __slots__ = ("_buffer", "_decoder")

    def __init__(self) -> None:
        self._buffer: bytearray | None = None
        self._decoder: codecs.IncrementalDecoder | None = None  # set while a text message is open

    def feed(self, frame: Frame) -> str | bytes | None:
        """The completed message, or None. Raises UnicodeDecodeError on invalid text."""
        opcode = frame.opcode
        data = frame.data
        if opcode is TEXT:
            if frame.fin:
                return bytes(data).decode("utf-8")
            self._decoder = _Utf8Decoder()
            self._decoder.decode(data)
            self._buffer = bytearray(data)
            return None
        if opcode is BINARY:
            if frame.fin:
                return bytes(data)
            self._decoder = None
            self._buffer = bytearray(data)
            return None
        if opcode is not CONT:
            return None  # control frames: the protocol answers them itself
        buffer = self._buffer
        assert buffer is not None  # the protocol rejects a continuation with nothing to continue
        decoder = self._decoder
        if decoder is not None:
            decoder.decode(data, frame.fin)
        buffer += data
        if not frame.fin:
            return None
        self._buffer = self._decoder = None
        return buffer.decode("utf-8") if decoder is not None else bytes(buffer)

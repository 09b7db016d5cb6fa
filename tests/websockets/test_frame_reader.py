"""The WebSocket receive fast path (worker/websockets/frame_reader.py) against the websockets protocol alone.

The same client bytes go to two server protocols: one reads them all itself (what the worker
did before the fast path), the other through FrameReader. Whatever the bytes (every length
boundary, fragments, control frames between them, bad masks, reserved bits, oversized frames,
invalid UTF-8, close codes, data after the close) and however TCP cuts them (whole, at every
byte, at random), both must give the same messages in the same order, the same bytes to
send (pongs, closes, the end of the stream), the same state and close codes; and the same
again when the stream ends in the middle of a frame.
"""

from __future__ import annotations

import random
import struct

import pytest
from websockets.frames import CloseCode, Frame
from websockets.protocol import OPEN

from hwebserver.worker.websockets.frame_reader import FrameReader
from hwebserver.worker.websockets.handshake import ServerWebSocketProtocol
from hwebserver.worker.websockets.messages import MessageAssembler

DEFAULT_LIMIT = 16 * 1024 * 1024


def frame(
    opcode: int, payload: bytes, fin: bool = True, masked: bool = True, rsv: int = 0, width: int = 0
) -> bytes:
    """One client frame. width forces the length encoding: 7, 16 or 64 bits (0: the shortest)."""
    first = (0x80 if fin else 0) | rsv | opcode
    length = len(payload)
    if width == 0:
        width = 7 if length < 126 else 16 if length < 65536 else 64
    mask_bit = 0x80 if masked else 0
    if width == 7:
        head = bytes((first, mask_bit | length))
    elif width == 16:
        head = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not masked:
        return head + payload
    # A mask that varies with the frame but not between runs (test ids contain the bytes).
    mask = bytes((opcode * 37 + length * 11 + i * 61 + 1) & 0xFF for i in range(4))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def text(payload: str | bytes, **kwargs: object) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return frame(0x1, data, **kwargs)  # type: ignore[arg-type]


def binary(payload: bytes, **kwargs: object) -> bytes:
    return frame(0x2, payload, **kwargs)  # type: ignore[arg-type]


def cont(payload: bytes, fin: bool = True) -> bytes:
    return frame(0x0, payload, fin=fin)


def ping(payload: bytes = b"p") -> bytes:
    return frame(0x9, payload)


def pong(payload: bytes = b"q") -> bytes:
    return frame(0xA, payload)


def close(code: int | None = 1000, reason: bytes = b"") -> bytes:
    payload = b"" if code is None else struct.pack("!H", code) + reason
    return frame(0x8, payload)


def outcome(ws: ServerWebSocketProtocol, log: list[object]) -> list[object]:
    return [
        *log,
        ("state", ws.state),
        ("close_rcvd", ws.close_rcvd and (ws.close_rcvd.code, ws.close_rcvd.reason)),
        ("close_sent", ws.close_sent and (ws.close_sent.code, ws.close_sent.reason)),
        ("eof_sent", ws.eof_sent),
    ]


def deliver(
    ws: ServerWebSocketProtocol,
    assembler: MessageAssembler,
    items: list[object],
    log: list[object],
) -> None:
    """What WebSocketConnection.data_received does with what it read."""
    for item in items:
        if isinstance(item, Frame):
            try:
                message = assembler.feed(item)
            except UnicodeDecodeError as exc:
                ws.fail(CloseCode.INVALID_DATA, f"invalid UTF-8 at position {exc.start}")
                break
            if message is None:
                continue
        else:
            message = item
        log.append(("message", message))
    log.append(("send", b"".join(ws.data_to_send())))


def through_protocol(chunks: list[bytes], limit: int, eof: bool) -> list[object]:
    """The reference: the protocol parses every byte itself."""
    ws = ServerWebSocketProtocol(max_size=limit, state=OPEN)
    assembler = MessageAssembler()
    log: list[object] = []
    for chunk in chunks:
        ws.receive_data(chunk)
        deliver(ws, assembler, list(ws.events_received()), log)
    if eof:
        ws.receive_eof()
        log.append(("send at eof", b"".join(ws.data_to_send())))
    return outcome(ws, log)


def through_reader(chunks: list[bytes], limit: int, eof: bool) -> list[object]:
    """The fast path: FrameReader in front of the protocol."""
    ws = ServerWebSocketProtocol(max_size=limit, state=OPEN)
    reader = FrameReader(ws)
    assembler = MessageAssembler()
    log: list[object] = []
    for chunk in chunks:
        deliver(ws, assembler, list(reader.receive(chunk)), log)
    if eof:
        reader.flush_to_protocol()
        ws.receive_eof()
        log.append(("send at eof", b"".join(ws.data_to_send())))
    return outcome(ws, log)


def cuts(stream: bytes, seed: int) -> list[list[bytes]]:
    """The stream whole, cut at every byte (short streams) or in random pieces."""
    ways = [[stream]]
    if len(stream) <= 400:
        ways.append([stream[i : i + 1] for i in range(len(stream))])
        ways += [[stream[:i], stream[i:]] for i in range(1, len(stream))]
    rng = random.Random(seed)
    for _ in range(8):
        pieces, pos = [], 0
        while pos < len(stream):
            step = rng.choice((1, 2, 3, 7, 64, 1000, 70000))
            pieces.append(stream[pos : pos + step])
            pos += step
        ways.append(pieces)
    return ways


def assert_same(stream: bytes, limit: int = DEFAULT_LIMIT) -> list[object]:
    reference: list[object] = []
    for number, chunks in enumerate(cuts(stream, seed=len(stream))):
        for eof in (False, True):
            reference = through_protocol(chunks, limit, eof)
            assert through_reader(chunks, limit, eof) == reference, (number, eof)
        # The stream ending at any point: mid-frame, mid-header, between frames.
        if number == 0 and len(stream) <= 400:
            for end in range(len(stream)):
                cut = [stream[:end]]
                assert through_reader(cut, limit, True) == through_protocol(cut, limit, True), end
    return reference


LENGTHS = [0, 1, 2, 3, 4, 5, 124, 125, 126, 127, 65535, 65536, 70000]


@pytest.mark.parametrize("length", LENGTHS)
def test_text_and_binary_messages_at_every_length_boundary(length):
    payload = bytes(ord("a") + i % 26 for i in range(length))
    stream = text(payload) + binary(payload) + text(payload) + ping() + binary(payload)
    reference = assert_same(stream)
    assert reference.count(("message", payload.decode())) == 2
    assert reference.count(("message", payload)) == 2


@pytest.mark.parametrize("limit", [0, 1, 100, 125, 126, 127, 65535, 65536])
@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_messages_around_the_size_limit(limit, delta):
    length = max(0, limit + delta)
    payload = b"x" * length
    assert_same(text(payload) + binary(b"y") + binary(payload), limit=limit)


@pytest.mark.parametrize("width", [16, 64])
def test_lengths_in_a_wider_encoding_than_needed(width):
    assert_same(text("short", width=width) + binary(b"\x00" * 130, width=width) + text("after"))


def test_fragmented_messages_with_control_frames_between_fragments():
    stream = (
        text("start ", fin=False)
        + ping(b"1")
        + cont(b"middle ", fin=False)
        + pong()
        + cont("end \u00e9".encode())
        + text("whole")
        + binary(b"\x01\x02", fin=False)
        + cont(b"\x03" * 200, fin=False)
        + cont(b"")
        + binary(b"last")
    )
    reference = assert_same(stream)
    assert ("message", "start middle end \u00e9") in reference
    assert ("message", b"\x01\x02" + b"\x03" * 200) in reference


def test_a_data_frame_inside_a_fragmented_message_fails_alike():
    assert_same(text("a", fin=False) + text("b") + text("c"))


def test_a_continuation_with_nothing_to_continue_fails_alike():
    assert_same(text("a") + cont(b"b") + text("c"))


@pytest.mark.parametrize(
    "bad",
    [
        text("unmasked", masked=False),
        binary(b"unmasked", masked=False),
        text("rsv1", rsv=0x40),
        text("rsv2", rsv=0x20),
        binary(b"rsv3", rsv=0x10),
        frame(0x3, b"reserved opcode"),
        frame(0xB, b"reserved control opcode"),
        frame(0x9, b"p" * 126),  # a control frame longer than 125
        frame(0x9, b"p", fin=False),  # a fragmented control frame
        text("x" * 200, width=64) + b"",
    ],
    ids=[
        "unmasked text",
        "unmasked binary",
        "rsv1",
        "rsv2",
        "rsv3",
        "reserved opcode",
        "reserved control opcode",
        "long ping",
        "fragmented ping",
        "64-bit length",
    ],
)
def test_frames_the_protocol_refuses_fail_alike(bad):
    assert_same(text("before") + bad + text("after") + ping())


@pytest.mark.parametrize(
    "payload",
    [b"\xff", b"\xc3", b"ok \xed\xa0\x80", b"\xf4\x90\x80\x80", "caf\u00e9".encode()[:-1]],
)
def test_invalid_utf8_fails_alike(payload):
    assert_same(text("before") + text(payload) + text("after") + ping())
    assert_same(text(payload, fin=False) + cont(b"rest") + text("after"))


@pytest.mark.parametrize(
    "close_frame",
    [
        close(1000),
        close(1001, b"going"),
        close(3000, "r\u00e9ason".encode()),
        close(4999),
        close(None),
        close(1005),
        close(1006),
        close(999),
        close(5000),
        close(1000, b"\xff"),
        frame(0x8, b"\x03"),  # one byte: too short
    ],
)
def test_close_codes_and_data_after_the_close(close_frame):
    assert_same(text("before") + close_frame + text("after") + ping() + binary(b"late"))


def test_close_in_the_middle_of_a_fragmented_message():
    assert_same(text("part", fin=False) + close(1000) + cont(b"rest"))


def test_pings_between_common_frames_are_answered_in_the_same_order():
    stream = b"".join(text(f"m{i}") + (ping(bytes([i])) if i % 3 == 0 else b"") for i in range(40))
    reference = assert_same(stream)
    assert sum(1 for entry in reference if entry[0] == "message") == 40


def test_common_frames_are_decoded_by_the_fast_path_not_the_protocol():
    """Whole masked text and binary frames come back as messages, not as protocol frames."""
    ws = ServerWebSocketProtocol(max_size=DEFAULT_LIMIT, state=OPEN)
    reader = FrameReader(ws)
    got = reader.receive(text("hello") + binary(b"\x00\x01") + text("x" * 300))
    assert got == ["hello", b"\x00\x01", "x" * 300]
    assert ws.events_received() == []
    half = text("split")
    assert reader.receive(half[:4]) == []
    assert reader.receive(half[4:]) == ["split"]

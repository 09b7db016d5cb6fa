"""The control pipe's framing: messages survive any split of the byte stream."""

from __future__ import annotations

import struct

import pytest

from hwebserver.worker.common import control
from hwebserver.worker.common.control import ControlProtocolError, FrameDecoder, encode


def test_messages_split_anywhere_and_batched_come_out_whole():
    stream = b"".join(
        [
            encode(control.READY, pid=12, sources=["/srv/app.py"]),
            encode(control.HEARTBEAT, served=3, in_flight=1, lag=0.001, rss=1 << 20),
            encode(control.DRAIN, mode=control.RETIRE),
        ]
    )
    for step in (1, 3, 7, len(stream)):
        decoder = FrameDecoder()
        messages = []
        for start in range(0, len(stream), step):
            messages.extend(decoder.feed(stream[start : start + step]))
        assert [m["kind"] for m in messages] == [control.READY, control.HEARTBEAT, control.DRAIN]
        assert messages[0]["sources"] == ["/srv/app.py"]
        assert messages[2]["mode"] == control.RETIRE


def test_oversized_or_malformed_frames_are_refused():
    with pytest.raises(ControlProtocolError):
        FrameDecoder().feed(struct.pack(">I", control.MAX_FRAME + 1))
    with pytest.raises(ControlProtocolError):
        FrameDecoder().feed(struct.pack(">I", 3) + b"{x}")
    with pytest.raises(ControlProtocolError):
        FrameDecoder().feed(struct.pack(">I", 2) + b"[]")

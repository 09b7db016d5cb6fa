"""Server data frames written directly are byte for byte what the websockets protocol writes."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from hwebserver.worker.websockets.data_frames import write_data_frame


class Transport:
    def __init__(self) -> None:
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        self.written += data

    def writelines(self, parts: tuple[bytes, ...]) -> None:
        for part in parts:
            self.written += part


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000, 1 << 20])
@pytest.mark.parametrize("is_text", [True, False], ids=["text", "binary"])
def test_same_bytes_as_the_protocol(size, is_text):
    payload = (b"a" if is_text else b"\x00") * size
    transport = Transport()
    write_data_frame(transport, payload, is_text)
    opcode = Opcode.TEXT if is_text else Opcode.BINARY
    assert bytes(transport.written) == Frame(opcode, payload).serialize(mask=False, extensions=[])

"""The Date and Server response header lines, rebuilt once a second rather than per response."""

from __future__ import annotations

import email.utils
import time

SERVER_NAME = b"hwebserver"


def date_server_lines(now: float | None = None) -> bytes:
    date = email.utils.formatdate(time.time() if now is None else now, usegmt=True)
    return b"Date: " + date.encode("ascii") + b"\r\nServer: " + SERVER_NAME + b"\r\n"

"""How many clients wait in a listening socket's backlog (the descriptor guard asks: it
closes idle keep-alive connections to admit them). Accepting, a burst at a time and each
worker its share, is process/accepting.py."""

from __future__ import annotations

import socket
import struct

# struct tcp_info: for a listening socket, Linux reports its accept queue's length in
# tcpi_unacked (a u32 after eight one-byte fields and four u32).
_TCP_INFO = getattr(socket, "TCP_INFO", None)
_UNACKED = struct.Struct("=I")
_UNACKED_OFFSET = 24


def backlog_length(sock: socket.socket) -> int:
    """Connections waiting in `sock`'s accept queue; 0 where the kernel does not say."""
    if _TCP_INFO is None:
        return 0
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 104)
    except OSError:
        return 0
    if len(info) < _UNACKED_OFFSET + 4:
        return 0
    return int(_UNACKED.unpack_from(info, _UNACKED_OFFSET)[0])

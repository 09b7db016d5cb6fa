"""systemd: socket activation (LISTEN_FDS) and readiness notification (NOTIFY_SOCKET).

Both are read once and removed from the environment, so workers and the application's own
subprocesses do not act on them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time

SD_LISTEN_FDS_START = 3


def inherited_sockets() -> list[tuple[str, socket.socket]]:
    """(name, listening socket) passed by systemd to this very process; [] when none."""
    pid = os.environ.pop("LISTEN_PID", None)
    count = os.environ.pop("LISTEN_FDS", None)
    names_text = os.environ.pop("LISTEN_FDNAMES", "")
    if not pid or not count or int(pid) != os.getpid():
        return []
    names = names_text.split(":") if names_text else []
    found: list[tuple[str, socket.socket]] = []
    for index in range(int(count)):
        fd = SD_LISTEN_FDS_START + index
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        sock.set_inheritable(True)
        found.append((names[index] if index < len(names) else "", sock))
    return found


class Notifier:
    """sd_notify(): one datagram per state change; silent when NOTIFY_SOCKET is not set."""

    def __init__(self, address: str | None) -> None:
        self.address = address

    @classmethod
    def from_environment(cls) -> Notifier:
        address = os.environ.pop("NOTIFY_SOCKET", None)
        if address and address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace
        return cls(address or None)

    def send(self, *lines: str) -> None:
        if self.address is None:
            return
        with contextlib.suppress(OSError):
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(lines).encode(), self.address)

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def reloading(self, status: str) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", f"STATUS={status}")

    def stopping(self, status: str) -> None:
        self.send("STOPPING=1", f"STATUS={status}")

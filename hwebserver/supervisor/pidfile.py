"""--pid-file: the supervisor's pid on the first line (what systemd's PIDFile= and kill
$(cat ...) read), and on the second the URL of a port serving the admin endpoints, if any, so
`hwebserver status` finds the service's numbers from the pid file alone."""

from __future__ import annotations

import contextlib
import os
import socket

from .. import command_line
from ..worker.common.config import Listener


def admin_url(listeners: list[Listener]) -> str | None:
    """http(s)://host:port of the first port with ADMIN_ENDPOINTS, reachable from this host."""
    for listener in listeners:
        if not listener.options.ADMIN_ENDPOINTS:
            continue
        host = str(listener.sock.getsockname()[0])
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if listener.sock.family == socket.AF_INET6:
            host = f"[{host}]"
        scheme = "https" if listener.options.SSL_CERTIFICATE else "http"
        return f"{scheme}://{host}:{listener.port}"
    return None


def write_if_asked(listeners: list[Listener]) -> str | None:
    """Write the pid file the command line asked for; its path, to remove it at exit."""
    session = command_line.active()
    path = session.pid_file if session is not None else None
    if not path:
        return None
    lines = [str(os.getpid())]
    url = admin_url(listeners)
    if url is not None:
        lines.append(url)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w") as file:
        file.write("\n".join(lines) + "\n")
    os.replace(temporary, path)  # a reader never sees half a file
    return path


def remove(path: str | None) -> None:
    """Only our own: a newer service may have written the same path since."""
    if path is None:
        return
    with contextlib.suppress(OSError):
        with open(path) as file:
            first = file.readline().strip()
        if first == str(os.getpid()):
            os.unlink(path)

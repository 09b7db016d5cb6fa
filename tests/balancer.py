"""HAProxy (Debian's package) in front of services, for tests: run in the foreground on
127.0.0.1 with /readyz as its active health check, and stopped by its PID."""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx

from hwebserver.testing import free_port

HAPROXY = shutil.which("haproxy") or (
    "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
)

CONFIG = """\
global
    maxconn 512

defaults
    mode http
    timeout connect 2s
    timeout client 20s
    timeout server 20s
    # A request that meets a connection the server is closing is sent again (GET is
    # idempotent), on another server if needed.
    retries 3
    option redispatch 1
    retry-on all-retryable-errors

frontend web
    bind 127.0.0.1:{front}
    default_backend services

frontend stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats

backend services
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
    default-server inter 200ms fastinter 100ms downinter 200ms rise 2 fall 1
{servers}
"""


@contextlib.contextmanager
def haproxy(tmp_path: Path, backends: dict[str, int]) -> Iterator[tuple[int, int]]:
    """HAProxy in the foreground; (its front port, its stats port); stopped by PID."""
    front, stats = free_port(), free_port()
    servers = "\n".join(
        f"    server {name} 127.0.0.1:{port} check" for name, port in backends.items()
    )
    config = tmp_path / "haproxy.cfg"
    config.write_text(CONFIG.format(front=front, stats=stats, servers=servers))
    log = open(tmp_path / "haproxy.log", "wb")
    assert HAPROXY is not None
    proc = subprocess.Popen(
        [HAPROXY, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield front, stats
    finally:
        proc.send_signal(signal.SIGUSR1)  # soft stop
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def server_states(stats_port: int) -> dict[str, str]:
    """What HAProxy thinks of each backend server (UP, DOWN, ...); {} until it listens."""
    try:
        text = httpx.get(f"http://127.0.0.1:{stats_port}/stats;csv", timeout=5).text
    except httpx.TransportError:  # HAProxy still starting (a loaded machine)
        return {}
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return {
        row["svname"]: row["status"].split()[0]
        for row in rows
        if row["pxname"] == "services" and row["svname"] not in ("FRONTEND", "BACKEND")
    }

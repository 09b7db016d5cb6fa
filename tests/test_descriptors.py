"""A worker short of file descriptors (RLIMIT_NOFILE) keeps serving and is not replaced."""

from __future__ import annotations

import socket
import time

from supervision import worker_pids
from support import ServerProcess, read_response

NOFILE = 64  # a worker holds about 16 descriptors before its first connection
WORKER_TIMEOUT = 3.0
REQUEST = b"GET /pid HTTP/1.1\r\nHost: test\r\n\r\n"


def ask(sock: socket.socket, path: str = "/pid") -> int:
    sock.sendall(REQUEST.replace(b"/pid", path.encode()))
    status, _headers, body = read_response(sock)
    assert status == 200
    return int(body)


def test_heartbeat_goes_on_while_the_worker_has_no_descriptor_left(tmp_path):
    settings = {"WORKER_TIMEOUT": WORKER_TIMEOUT}
    env = {"HWEBSERVER_TEST_NOFILE": str(NOFILE)}
    with (
        ServerProcess("descriptor_app.py", tmp_path, {"settings": settings}, env=env) as srv,
        socket.create_connection(("127.0.0.1", srv.port), timeout=10) as kept,
    ):
        worker = ask(kept)
        assert ask(kept, "/hog") > 0  # the application leaks every descriptor left
        # Longer than WORKER_TIMEOUT with none: the supervisor still hears from the worker,
        # which still serves the connection it has.
        until = time.monotonic() + 2 * WORKER_TIMEOUT
        while time.monotonic() < until:
            assert ask(kept) == worker
            time.sleep(0.5)
        assert ask(kept, "/release") > 0
        time.sleep(WORKER_TIMEOUT + 1)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as fresh:
            assert ask(fresh) == worker
        assert worker_pids(srv) == {worker}
        assert "sent no heartbeat" not in srv.logs()

"""A worker's drain waits for the handlers left to finish after their client went away
(docs/guide.md, "When the client goes away"), within GRACEFUL_TIMEOUT; then cancels them,
says so in the log, and lets their finally blocks run before the worker exits."""

from __future__ import annotations

import signal
import socket
import struct
from pathlib import Path

import pytest
from supervision import alive, worker_pids
from support import ServerProcess, wait_for


def leave_a_handler_running(
    srv: ServerProcess, name: str, seconds: float, path: str = "/work"
) -> None:
    """Start <path>/<name>, wait until it has started, and go away (a reset)."""
    record = srv.tmp_path / name
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        request = f"GET {path}/{name}?s={seconds} HTTP/1.1\r\nHost: x\r\n\r\n"
        sock.sendall(request.encode())
        wait_for(lambda: record.exists() and "started" in record.read_text())
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def lines(record: Path) -> list[str]:
    return [line.split()[0] for line in record.read_text().splitlines()]


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_a_handler_whose_client_left_finishes_before_the_worker_exits(tmp_path, signum):
    with ServerProcess("orphan_app.py", tmp_path, {"verbosity": 1}) as srv:
        wait_for(lambda: len(worker_pids(srv)) == 1)
        (worker,) = worker_pids(srv)
        leave_a_handler_running(srv, "left", 2)
        srv.signal(signum)
        wait_for(lambda: not alive(worker), timeout=60)
        assert lines(tmp_path / "left") == ["started", "finally", "finished"]
        if signum == signal.SIGTERM:
            assert srv.wait(30) == 0


def test_a_handler_still_running_at_graceful_timeout_is_cancelled_and_said(tmp_path):
    run = {"verbosity": 1, "settings": {"GRACEFUL_TIMEOUT": 2}}
    with ServerProcess("orphan_app.py", tmp_path, run) as srv:
        wait_for(lambda: len(worker_pids(srv)) == 1)
        (worker,) = worker_pids(srv)
        leave_a_handler_running(srv, "stuck", 120)
        srv.signal(signal.SIGTERM)
        wait_for(lambda: not alive(worker), timeout=60)
        assert lines(tmp_path / "stuck") == ["started", "cancelled", "finally"]
        assert "cancelling 1 task(s) of user code still running: async handler" in srv.logs()


def test_a_plain_handler_whose_client_left_finishes_before_the_worker_exits(tmp_path):
    with ServerProcess("orphan_app.py", tmp_path, {"verbosity": 1}) as srv:
        wait_for(lambda: len(worker_pids(srv)) == 1)
        (worker,) = worker_pids(srv)
        leave_a_handler_running(srv, "plain", 2, path="/plain-work")
        srv.signal(signal.SIGTERM)
        wait_for(lambda: not alive(worker), timeout=60)
        assert lines(tmp_path / "plain") == ["started", "finished"]

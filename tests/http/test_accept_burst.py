"""A burst of new connections to a busy worker is accepted at once, not one per loop turn.

libuv accepts one connection per turn of the event loop; a worker whose turns are long (many
open connections, or a slow async handler) used to leave a burst of new clients in the kernel's
backlog for seconds, and the last ones timed out (wrk -c1000 counted hundreds of timeouts).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from support import ServerProcess, read_response

BURST = 300  # new connections at once: one per turn of 50 to 150 ms would take 15 s or more
BUSY_CLIENTS = 3  # each keeps a 50 ms /block in most turns of the loop
DEADLINE = 5.0  # seconds for all of them to be answered (well under 1 s when accepted at once)


@pytest.fixture()
def srv(tmp_path):
    process = ServerProcess("busy_loop_app.py", tmp_path)
    try:
        process.start()
        yield process
    finally:
        process.stop()


def keep_busy(port: int, stop: threading.Event) -> None:
    """One client asking /block again and again: every turn of the loop lasts 50 ms."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        until = time.monotonic() + 30  # stops by itself whatever happens to the test
        while not stop.is_set() and time.monotonic() < until:
            sock.sendall(b"GET /block HTTP/1.1\r\nHost: test\r\n\r\n")
            read_response(sock)


def test_a_burst_of_clients_to_a_busy_worker_is_answered_at_once(srv):
    stop = threading.Event()
    busy = [
        threading.Thread(target=keep_busy, args=(srv.port, stop), daemon=True)
        for _ in range(BUSY_CLIENTS)
    ]
    for thread in busy:
        thread.start()
    clients: list[socket.socket] = []
    try:
        time.sleep(0.3)  # the loop is busy now
        started = time.monotonic()
        for _ in range(BURST):
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=DEADLINE * 3)
            clients.append(sock)
            sock.sendall(b"GET /ahello HTTP/1.1\r\nHost: test\r\n\r\n")
        answered = [read_response(sock, timeout=DEADLINE * 3) for sock in clients]
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        for sock in clients:
            sock.close()
        for thread in busy:
            thread.join(35)
    assert all(status == 200 and body == b"hello" for status, _, body in answered)
    assert elapsed < DEADLINE, f"{BURST} clients took {elapsed:.1f} s to be answered"

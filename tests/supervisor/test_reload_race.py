"""Reloads under a tight loop of new connections: a connection the old worker accepted as its
drain began is served, never dropped (refused or reset)."""

from __future__ import annotations

import signal
import socket
import threading
import time

from supervision import copy_app, worker_pids
from support import ServerProcess, parse_response, read_all, wait_for

# The race is narrow: the drain must begin in the turn of the loop that accepted a connection
# while the worker has no other connection open. So one client, and reloads enough that the
# code before the drain counted accepted connections dropped a connection in most runs (3 in 40 reloads here).
RELOADS = 40
CLIENTS = 1


class FreshConnections:
    """Threads each opening a connection per request, as fast as they are answered; every
    request that does not end in a 200 is a failure."""

    def __init__(self, port: int, clients: int = CLIENTS, max_seconds: float = 240.0) -> None:
        self.port = port
        self.max_seconds = max_seconds
        self.answered = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> FreshConnections:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        request = b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
                    sock.sendall(request)
                    answer = read_all(sock, timeout=30)  # a reset ends it like a close
            except OSError as exc:  # refused, or reset while sending
                self.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            if not answer:
                self.failures.append("closed (or reset) with no answer")
                continue
            status, _, _ = parse_response(answer)
            if status == 200:
                self.answered += 1
            else:
                self.failures.append(f"status {status}")


def test_reloads_under_a_loop_of_new_connections_drop_none(tmp_path):
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"workers": 1, "verbosity": 1}) as srv:
        wait_for(lambda: len(worker_pids(srv)) == 1)
        with FreshConnections(srv.port) as clients:
            for generation in range(1, RELOADS + 1):
                old = worker_pids(srv)
                srv.signal(signal.SIGHUP)
                wait_for(lambda g=generation: f"generation {g} serves" in srv.logs(), timeout=60)
                wait_for(lambda old=old: not old & worker_pids(srv), timeout=60)
            answered = clients.answered
            wait_for(lambda: clients.answered > answered + 10, timeout=30)
        print("answered", clients.answered, "failures", len(clients.failures))
        assert clients.failures == [], clients.failures[:5]

"""A worker short of file descriptors (RLIMIT_NOFILE) stops accepting for a while, keeps serving
the connections it has, says so once per interval, and recovers by itself, unreplaced."""

from __future__ import annotations

import re
import socket
import time

from supervision import worker_pids
from support import ServerProcess, read_response, wait_for

NOFILE = 64  # a worker holds about 16 descriptors before its first connection
FLOOD = 150  # connections opened at once: several times what the limit lets in
WORKER_TIMEOUT = 3.0
REPORT_INTERVAL = 10.0  # hwebserver.worker.common.logs: one line per recurring failure and interval
REQUEST = b"GET /pid HTTP/1.1\r\nHost: test\r\n\r\n"


def ask(sock: socket.socket, path: str = "/pid") -> int:
    sock.sendall(REQUEST.replace(b"/pid", path.encode()))
    status, _headers, body = read_response(sock)
    assert status == 200
    return int(body)


def peek(sock: socket.socket) -> str:
    """'answered' (a response is there to read), 'waiting', or 'cut' (closed by the server)."""
    sock.settimeout(0)  # read_response() sets its own
    try:
        data = sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return "waiting"
    except ConnectionResetError:
        return "cut"
    return "answered" if data else "cut"


def test_short_of_descriptors_a_worker_stops_accepting_serves_what_it_has_and_recovers(tmp_path):
    settings = {"WORKER_TIMEOUT": WORKER_TIMEOUT, "KEEPALIVE_TIMEOUT": 300, "HEADER_TIMEOUT": 300}
    env = {"HWEBSERVER_TEST_NOFILE": str(NOFILE)}
    flood: list[socket.socket] = []
    with ServerProcess("descriptor_app.py", tmp_path, {"settings": settings}, env=env) as srv:
        started = time.monotonic()
        try:
            kept = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            flood.append(kept)
            worker = ask(kept)
            for _ in range(FLOOD):
                sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
                flood.append(sock)
                sock.sendall(REQUEST)
            wait_for(lambda: "not accepting new connections" in srv.logs(), timeout=10)

            # Out of descriptors for longer than WORKER_TIMEOUT: the keep-alive connection
            # opened before is served all along, and the worker is not taken for a silent one.
            until = time.monotonic() + 2 * WORKER_TIMEOUT
            while time.monotonic() < until:
                assert ask(kept) == worker
                time.sleep(0.5)
            states = [peek(sock) for sock in flood[1:]]
            # The clients it could not take wait in the backlog: none is cut.
            assert states.count("cut") == 0, states
            assert 0 < states.count("answered") < FLOOD

            # As the answered clients leave, the waiting ones are accepted and answered.
            waiting = flood[1:]

            def everyone_answered() -> bool:
                for sock in list(waiting):
                    state = peek(sock)
                    assert state != "cut"
                    if state == "answered":
                        assert read_response(sock)[2] == str(worker).encode()
                        sock.close()
                        waiting.remove(sock)
                return not waiting

            wait_for(everyone_answered, timeout=60, interval=0.2)
        finally:
            for sock in flood:
                sock.close()

        # Later than WORKER_TIMEOUT after the flood: the same worker, serving new connections.
        time.sleep(WORKER_TIMEOUT + 1)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as fresh:
            assert ask(fresh) == worker
        assert worker_pids(srv) == {worker}
        elapsed = time.monotonic() - started

        logs = srv.logs()
        assert "sent no heartbeat" not in logs and "Traceback" not in logs
        assert "accepting new connections again" in logs
        # It paused and resumed about FLOOD / 40 times; the log says so once per interval
        # (a pause or "still" line, and the end of a reported pause), not once per accept.
        lines = [line for line in logs.splitlines() if "file descriptors in use" in line]
        assert 2 <= len(lines) <= 2 * (elapsed // REPORT_INTERVAL + 1), lines


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


def test_idle_keep_alive_connections_make_room_for_new_clients_at_the_limit(tmp_path):
    """Every descriptor held by idle keep-alive connections (KEEPALIVE_TIMEOUT 300 s): new
    clients are admitted all the same, the worker closing its oldest idle connections (an
    orderly close, which HTTP clients expect of an idle connection), and saying how many."""
    settings = {"KEEPALIVE_TIMEOUT": 300, "HEADER_TIMEOUT": 300}
    env = {"HWEBSERVER_TEST_NOFILE": str(NOFILE)}
    idle: list[socket.socket] = []
    with ServerProcess("descriptor_app.py", tmp_path, {"settings": settings}, env=env) as srv:
        try:
            worker = 0
            while "not accepting new connections" not in srv.logs() and len(idle) < NOFILE:
                sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
                idle.append(sock)
                worker = ask(sock)  # answered, then idle on a keep-alive connection
            for _client in range(5):
                with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as new:
                    assert ask(new) == worker  # within read_response's generous timeout
            closed = [sock for sock in idle if peek(sock) == "cut"]
            assert closed, "no idle connection was closed"
            for sock in closed:  # an orderly close (FIN), not a reset
                sock.settimeout(5)
                assert sock.recv(1) == b""
        finally:
            for sock in idle:
                sock.close()
        logs = srv.logs()
        found = re.search(r"closed (\d+) idle keep-alive connection\(s\), the oldest", logs)
        assert found and int(found.group(1)) > 0, logs
        assert "Traceback" not in logs

"""Hostile-input figures (not part of the test suite), against one worker at 127.0.0.1.

1. A 100 MB flood of trailer lines on one connection, while another client asks for /hello
   every 50 ms: the worker's RSS and that client's latency, and what the flood got back.
2. 300 connections each sending `OPTIONS *`: how many were answered, how long they stayed open.
3. A client that never reads a 50 MB response (one write) or an endless stream, with
   SEND_TIMEOUT=3: how long the server kept each connection.

Usage: scripts/bench_hostile [--checkout DIR] (DIR: another checkout, e.g. an older release,
whose tests/apps/echo_app.py is served with that checkout's hwebserver).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
SEND_TIMEOUT = 3
FLOOD_BYTES = 100 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(checkout: Path, port: int, send_timeout: bool) -> subprocess.Popen[bytes]:
    settings = {"SEND_TIMEOUT": SEND_TIMEOUT} if send_timeout else {}
    env = dict(
        os.environ,
        PYTHONPATH=f"{checkout}{os.pathsep}{checkout / 'tests' / 'apps'}",
        HWEBSERVER_TEST_RUN_KWARGS=json.dumps({"port": port, "workers": 1, "settings": settings}),
    )
    app = checkout / "tests" / "apps" / "echo_app.py"
    process = subprocess.Popen(
        [sys.executable, str(app)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.05)
    stop_service(process)
    raise SystemExit("the service did not start")


def stop_service(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def get(port: int, path: bytes, timeout: float = 30) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"GET " + path + b" HTTP/1.0\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).partition(b"\r\n\r\n")[2]


def open_connections(worker: psutil.Process, port: int) -> int:
    return sum(
        1
        for c in worker.net_connections("tcp")
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


def trailer_flood(port: int, worker: psutil.Process) -> None:
    rss_before = worker.memory_info().rss
    peak = [rss_before]
    latencies: list[float] = []
    done = threading.Event()

    def sample_rss() -> None:
        while not done.is_set() and worker.is_running():
            peak[0] = max(peak[0], worker.memory_info().rss)
            time.sleep(0.01)

    def other_client() -> None:
        while not done.is_set():
            started = time.monotonic()
            get(port, b"/hello", timeout=60)
            latencies.append(time.monotonic() - started)
            time.sleep(0.05)

    helpers = [threading.Thread(target=sample_rss), threading.Thread(target=other_client)]
    for thread in helpers:
        thread.start()
    line = b"X-Flood: " + b"a" * 1000 + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
        )
        try:
            while sent < FLOOD_BYTES:
                sock.sendall(line * 256)
                sent += len(line) * 256
        except OSError:
            pass
        sock.settimeout(10)
        try:
            answer = sock.recv(100).split(b"\r\n")[0]
        except OSError as exc:
            answer = repr(exc).encode()
    time.sleep(1)
    done.set()
    for thread in helpers:
        thread.join()
    print(f"trailer flood: {sent / 2**20:.0f} MiB sent; answer: {answer.decode(errors='replace')}")
    print(f"  worker RSS {rss_before / 2**20:.1f} -> peak {peak[0] / 2**20:.1f} MiB")
    print(
        f"  another client's /hello: median {statistics.median(latencies) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms over {len(latencies)} requests"
    )


def options_star(port: int, worker: psutil.Process) -> None:
    before = open_connections(worker, port)
    sockets = []
    started = time.monotonic()
    for _ in range(300):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
        sockets.append(sock)
    time.sleep(2)  # time to answer them all; then only what has arrived is read
    answered = 0
    for sock in sockets:
        sock.settimeout(0.01)
        try:
            answered += sock.recv(100).startswith(b"HTTP/1.1 204")
        except OSError:
            pass
    while open_connections(worker, port) > before and time.monotonic() - started < 40:
        time.sleep(0.1)
    still_open = open_connections(worker, port) - before
    for sock in sockets:
        sock.close()
    print(
        f"300 x OPTIONS *: {answered} answered 204; {still_open} still open "
        f"{time.monotonic() - started:.1f}s after the first (kept alive until KEEPALIVE_TIMEOUT)"
    )


def never_reading(port: int, worker: psutil.Process) -> None:
    for path in (b"/big?mb=50", b"/endless?n=2000"):
        before = open_connections(worker, port)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            started = time.monotonic()
            while open_connections(worker, port) <= before and time.monotonic() - started < 5:
                time.sleep(0.05)
            while open_connections(worker, port) > before and time.monotonic() - started < 60:
                time.sleep(0.1)
            lifetime = time.monotonic() - started
        print(
            f"never-reading client, {path.decode()}, SEND_TIMEOUT={SEND_TIMEOUT}: "
            f"kept {lifetime:.1f}s{' (still open: gave up)' if lifetime >= 60 else ''}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the checkout to serve")
    parser.add_argument("--no-send-timeout", action="store_true", help="for a checkout without it")
    args = parser.parse_args()
    port = free_port()
    process = start_service(args.checkout.resolve(), port, not args.no_send_timeout)
    try:
        worker = psutil.Process(int(get(port, b"/pid")))
        trailer_flood(port, worker)
        if worker.is_running():
            options_star(port, worker)
            if not args.no_send_timeout:
                never_reading(port, worker)
    finally:
        stop_service(process)


if __name__ == "__main__":
    main()

"""RSS growth of the worker while a large multipart upload streams through it.

Starts scripts/bench_apps/upload_app.py, sends one file part of --size bytes made on the fly
(the client never holds it either), samples the worker's RSS every 5 ms, and prints the peak
growth over the RSS measured after a warm-up upload.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from support import PeakRss

HERE = Path(__file__).resolve().parent
BOUNDARY = b"bench-boundary-0123456789"


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port_file = workdir / "ports"
    env = dict(os.environ, TMPDIR=str(workdir), PYTHONUNBUFFERED="1")
    log = open(workdir / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "upload_app.py"), str(port_file)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return proc, int(port_file.read_text().split()[1])
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {(workdir / 'server.log').read_text()}")
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not start")


def get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.partition(b"\r\n\r\n")[2]


def upload(port: int, size: int) -> tuple[bytes, float]:
    block = os.urandom(1 << 20).replace(b"\r\n--", b"\r\n++")
    head = (
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; '
        b'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    tail = b"\r\n--" + BOUNDARY + b"--\r\n"
    length = len(head) + size + len(tail)
    request_head = (
        f"POST /upload HTTP/1.1\r\nHost: b\r\nConnection: close\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY.decode()}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request_head + head)
        left = size
        while left > 0:
            piece = block if left >= len(block) else block[:left]
            sock.sendall(piece)
            left -= len(piece)
        sock.sendall(tail)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1 << 30, help="bytes of the file part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        workdir = Path(tmp)
        proc, port = start_server(workdir)
        try:
            worker = psutil.Process(int(get(port, "/pid")))
            upload(port, 16 << 20)  # warm-up: allocations that stay
            with PeakRss(worker) as rss:
                answer, seconds = upload(port, args.size)
            baseline, peak = rss.baseline, rss.peak
            status = answer.split(b"\r\n", 1)[0].decode()
            body = answer.partition(b"\r\n\r\n")[2].decode()
            left = [p.name for p in workdir.iterdir() if p.name.startswith("hwebserver-req-")]
            print(f"upload: {args.size / 2**20:.0f} MiB multipart file part, {status}, {body}")
            print(f"time: {seconds:.2f} s ({args.size / 2**20 / seconds:.0f} MiB/s)")
            print(f"worker RSS: baseline {baseline / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB")
            print(f"RSS growth during the upload: {(peak - baseline) / 2**20:.1f} MiB")
            print(f"request temp dirs left after the response: {len(left)}")
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(15)


if __name__ == "__main__":
    main()

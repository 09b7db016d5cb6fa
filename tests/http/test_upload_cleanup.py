"""Uploads leave nothing behind, however the request ends; large uploads are never held in memory."""

from __future__ import annotations

import os
import platform
import signal
import socket
import sys
from pathlib import Path

import httpx
import psutil
import pytest
from multipart_bodies import CONTENT_TYPE, LargeUpload, body, field_part, file_head, file_part
from support import PeakRss, ServerProcess, read_all, wait_for

THRESHOLD = 1024
MAX_REQUEST = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    root = tmp_path_factory.mktemp("cleanup")
    with forms_server(root) as process:
        yield process


def forms_server(root: Path) -> ServerProcess:
    return ServerProcess(
        "forms_app.py",
        root,
        {"max_in_memory_file_upload_size": THRESHOLD, "max_request_size": MAX_REQUEST},
        server_tmp=root / "server-tmp",
    )


def entries(directory: Path) -> list[str]:
    try:
        return [str(path) for path in directory.rglob("*")]
    except FileNotFoundError:  # the server removed a directory while it was being listed
        return ["(changing)"]


def assert_emptied(srv) -> None:
    wait_for(lambda: not entries(srv.server_tmp), timeout=15)


def test_server_uses_the_tmpdir_it_was_given(srv):
    assert httpx.get(srv.url("/tempdir")).text == str(srv.server_tmp)


def test_successful_upload_leaves_nothing(srv):
    result = httpx.post(srv.url("/form"), files={"f": ("f.bin", os.urandom(THRESHOLD * 10))}).json()
    assert result["files"]["f"]["path"].startswith(str(srv.server_tmp))
    assert_emptied(srv)


@pytest.mark.parametrize("path", ["/form/raise", "/form/async-raise"])
def test_handler_that_raises_leaves_nothing(srv, path):
    worker = psutil.Process(int(httpx.get(srv.url("/pid")).text))
    fds = worker.num_fds()
    response = httpx.post(srv.url(path), files={"f": ("f.bin", os.urandom(THRESHOLD * 10))})
    assert response.status_code == 500
    assert_emptied(srv)
    # Nor an open descriptor: the handler's reader of the upload was closed with the request.
    wait_for(lambda: worker.num_fds() <= fds)


def send_a_third_of_an_upload(sock: socket.socket) -> None:
    """A 3 MiB multipart upload cut off a third of the way through its file part."""
    declared = 3 * 1024 * 1024
    head = (
        f"POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: {CONTENT_TYPE}\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    ).encode()
    sock.sendall(head + field_part("a", "1") + file_head("f", "f.bin"))
    sock.sendall(os.urandom(declared // 3))


def test_client_cut_off_mid_upload_leaves_nothing(srv):
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        send_a_third_of_an_upload(sock)
        wait_for(lambda: entries(srv.server_tmp))  # the part went to a temporary file
    assert_emptied(srv)


def test_client_gone_while_the_handler_runs_leaves_nothing(srv):
    payload = body(file_part("f", "f.bin", os.urandom(THRESHOLD * 10)))
    head = (
        f"POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: {CONTENT_TYPE}\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    # A pipelined second upload that the client never finishes.
    second = head.replace(b"Content-Length: %d" % len(payload), b"Content-Length: 999999")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(head + payload + second + payload)
    assert_emptied(srv)


def test_too_large_chunked_upload_is_413_and_leaves_nothing(srv):
    head = (
        f"POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: {CONTENT_TYPE}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    block = os.urandom(256 * 1024)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(head)
        sock.sendall(b"%x\r\n%s\r\n" % (len(field_part("a", "1")), field_part("a", "1")))
        start = file_head("f", "f.bin")
        sock.sendall(b"%x\r\n%s\r\n" % (len(start), start))
        try:
            for _ in range(MAX_REQUEST // len(block) + 4):
                sock.sendall(b"%x\r\n%s\r\n" % (len(block), block))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading once it had answered
        response = read_all(sock)
    assert response.startswith(b"HTTP/1.1 413 ")
    assert_emptied(srv)


def test_too_large_declared_upload_is_413_and_leaves_nothing(srv):
    head = (
        f"POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: {CONTENT_TYPE}\r\n"
        f"Content-Length: {MAX_REQUEST + 1}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(head + file_head("f", "f.bin") + os.urandom(THRESHOLD * 4))
        response = read_all(sock)
    assert response.startswith(b"HTTP/1.1 413 ")
    assert_emptied(srv)


def test_malformed_after_a_spooled_part_is_400_and_leaves_nothing(srv):
    payload = (
        file_part("f", "f.bin", os.urandom(THRESHOLD * 10))
        + b"--" + b"not-the-boundary\r\n\r\n"
    )  # fmt: skip
    head = (
        f"POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: {CONTENT_TYPE}\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(head + payload)
        response = read_all(sock)
    assert response.startswith(b"HTTP/1.1 400 ")
    assert_emptied(srv)


def test_large_upload_streams_without_growing_the_worker(tmp_path):
    """A 256 MiB upload goes through while the worker's RSS grows by far less."""
    server_tmp = tmp_path / "server-tmp"
    server_tmp.mkdir()
    srv = ServerProcess("forms_app.py", tmp_path, env={"TMPDIR": str(server_tmp)})
    srv.server_tmp = server_tmp  # type: ignore[attr-defined]
    try:
        srv.start()
        check_streaming(srv)
    finally:
        srv.stop()


# The worker's malloc thresholds are glibc's (worker/process/linux.py); /proc is Linux's.
GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def minor_faults(pid: int) -> int:
    """Page faults the process took that read nothing from disk (/proc/PID/stat, field 10):
    mostly memory handed back to the kernel and touched again (0 where there is no /proc)."""
    if not GLIBC:
        return 0
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return int(fields[7])  # fields from the state on: minflt is the 8th


def check_streaming(srv) -> None:
    pid = int(httpx.get(srv.url("/pid")).text)
    worker = psutil.Process(pid)
    with httpx.Client(timeout=60) as client:
        warm = LargeUpload(8 * 1024 * 1024)
        client.post(
            srv.url("/form"),
            content=warm.chunks(),
            headers={"Content-Type": CONTENT_TYPE, "Content-Length": str(warm.content_length)},
        )
    upload = LargeUpload(256 * 1024 * 1024)
    faults_before = minor_faults(pid)
    with PeakRss(worker) as rss, httpx.Client(timeout=120) as client:
        response = client.post(
            srv.url("/form"),
            content=upload.chunks(),
            headers={
                "Content-Type": CONTENT_TYPE,
                "Content-Length": str(upload.content_length),
            },
        )
    faults = minor_faults(pid) - faults_before
    info = response.json()["files"]["file"]
    assert info["size"] == upload.size
    assert info["sha256"] == upload.sha256.hexdigest()
    growth = rss.growth
    assert growth < 32 * 1024 * 1024, f"worker RSS grew by {growth / 2**20:.1f} MiB"
    # The buffers the body passed through were reused, not given back to the kernel and
    # faulted in again at every read (glibc's adaptive thresholds did: some 1.5 faults per
    # 4 KiB page of the upload, and most of the worker's CPU).
    pages = upload.size // 4096
    assert faults < pages // 8, f"{faults} page faults for {pages} pages of upload"
    assert_emptied(srv)


def test_temp_dirs_of_killed_processes_are_removed(tmp_path):
    """kill -9 gives a worker no chance to clean up: the supervisor removes what it left, and
    at start what a service killed whole (supervisor included) left."""
    server_tmp = tmp_path / "server-tmp"
    server_tmp.mkdir()
    stale = server_tmp / "hwebserver-req-999999999-x1"  # past any pid_max: long dead
    stale.mkdir()
    (stale / "body-1").write_bytes(b"left by a killed service")
    unrelated = server_tmp / "hwebserver-req-notapid-x2"
    unrelated.mkdir()
    with forms_server(tmp_path) as process:
        wait_for(lambda: not stale.exists())
        assert unrelated.exists()
        unrelated.rmdir()
        worker = int(httpx.get(process.url("/pid")).text)
        assert worker != process.pid
        with socket.create_connection(("127.0.0.1", process.port), timeout=10) as sock:
            send_a_third_of_an_upload(sock)
            wait_for(lambda: entries(server_tmp))  # the part is in a temporary file
            os.kill(worker, signal.SIGKILL)
            wait_for(lambda: not entries(server_tmp), timeout=15)
        wait_for(lambda: httpx.get(process.url("/pid")).text != str(worker), timeout=30)

"""Neither side can make the server buffer without bound."""

from __future__ import annotations

import socket
import time

import httpx
import psutil
from support import read_all, server, wait_for

MiB = 1024 * 1024


def test_a_client_that_stops_reading_pauses_a_streamed_response(tmp_path):
    with server(tmp_path) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(b"GET /endless?n=16384 HTTP/1.1\r\nHost: x\r\n\r\n")  # 1 GiB offered
            sock.recv(1024)

            def produced() -> int:
                return int(httpx.get(srv.url("/produced"), timeout=10).text)

            # The producer advances until the socket and the write buffer are full, then stops.
            wait_for(lambda: produced() > 0)
            first = produced()
            time.sleep(1.0)  # give an unbounded server time to run ahead
            stalled = produced()
            assert stalled < 200, (
                f"{stalled} chunks (12.5 MiB) were pulled for a client not reading"
            )
            assert stalled - first < 50
            # Reading resumes the stream.
            sock.settimeout(10)
            for _ in range(200):
                sock.recv(1 << 20)
            wait_for(lambda: produced() > stalled)


def test_a_large_raw_upload_is_spooled_not_held_in_memory(tmp_path):
    with server(tmp_path, settings={"BODY_SPOOL_SIZE": MiB}) as srv:
        process = psutil.Process(srv.pid)
        before = process.memory_info().rss
        size = 200 * MiB

        def body():
            block = b"u" * MiB
            for _ in range(size // MiB):
                yield block

        peak = before
        with httpx.Client(timeout=120) as client:
            with client.stream("POST", srv.url("/body-size"), content=body()) as response:
                peak = max(peak, process.memory_info().rss)
                assert response.read() == str(size).encode()
        # The handler asked for body(): reading it is the handler's choice; what we check is
        # that receiving it did not hold it in memory twice or more.
        assert peak - before < 300 * MiB


def test_a_client_sending_without_reading_responses_is_throttled(tmp_path):
    """Pipelining a flood of requests while never reading: the server stops reading too."""
    with server(tmp_path) as srv:
        process = psutil.Process(srv.pid)
        before = process.memory_info().rss
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.setblocking(False)
            # ~1 KiB requests: 100,000 of them are far more than kernel buffers can absorb.
            request = b"GET /stream?n=1&size=60000 HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\n\r\n" % (
                b"p" * 1000
            )
            sent = 0
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and sent < 100_000:
                try:
                    sock.send(request)
                    sent += 1
                except BlockingIOError:
                    time.sleep(0.01)
            # Sending blocked long before 100,000 requests (6 GB of answers) were accepted.
            assert sent < 20_000
            assert process.memory_info().rss - before < 200 * MiB
            sock.setblocking(True)
            sock.settimeout(10)
            assert read_all(sock, timeout=2, until_close=False).startswith(b"HTTP/1.1 200 OK")

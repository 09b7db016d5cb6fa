"""HTTP/1.1 behaviour over real sockets: keep-alive, pipelining, chunked, limits, errors."""

from __future__ import annotations

import json
import socket
import struct
import time

import httpx
import pytest
from support import ServerProcess, parse_response, raw_exchange, read_all, read_response, wait_for

MAX_REQUEST = 1024 * 1024


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    process = ServerProcess(
        "echo_app.py",
        tmp_path_factory.mktemp("http"),
        {
            "max_request_size": MAX_REQUEST,
            "settings": {"HEADER_TIMEOUT": 1, "KEEPALIVE_TIMEOUT": 1, "BODY_SPOOL_SIZE": 4096},
        },
    )
    process.start()
    yield process
    process.stop()


def echo(srv, data: bytes) -> tuple[int, dict, dict]:
    status, headers, body = parse_response(raw_exchange(srv.port, data))
    return status, headers, json.loads(body) if status == 200 else body


def test_echo_reports_what_the_server_parsed(srv):
    with httpx.Client() as client:
        response = client.post(
            srv.url("/echo/a%20b/c?x=1&y=%C3%A9&x=3"),
            content=b"payload",
            headers={"X-One": "1", "Cookie": "k=v; k2=v2", "Content-Type": "text/plain"},
        )
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/echo/a b/c"
    assert seen["target"] == "/echo/a%20b/c?x=1&y=%C3%A9&x=3"
    assert seen["GET"] == {"x": "3", "y": "é"}
    assert seen["headers"]["X-One"] == "1"
    assert seen["cookies"] == {"k": "v", "k2": "v2"}
    assert seen["body"] == "payload"
    assert seen["content_type"] == "text/plain"
    assert seen["content_length"] == 7
    assert seen["protocol"] == "HTTP/1.1"
    assert seen["host"] == f"127.0.0.1:{srv.port}"
    assert seen["port"] == srv.port
    assert seen["secure"] is False
    assert seen["client"][0] == "127.0.0.1"
    assert seen["server"] == ["127.0.0.1", srv.port]
    assert seen["absolute"] == f"http://127.0.0.1:{srv.port}/echo/a%20b/c?x=1&y=%C3%A9&x=3"
    assert seen["path_with_query"] == "/echo/a b/c?x=1&y=%C3%A9&x=3"


def test_keep_alive_serves_many_requests_on_one_connection(srv):
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        for _ in range(5):
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = read_response(sock)
            assert (status, body) == (200, b"Hello, world!")
            assert "connection" not in headers


def test_http10_keep_alive_when_asked(srv):
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        for _ in range(3):
            sock.sendall(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            status, headers, _body = read_response(sock)
            assert status == 200 and headers["connection"] == "keep-alive"
        sock.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
        data = read_all(sock)
        assert parse_response(data)[1]["connection"] == "close"


def test_connection_close_is_honoured(srv):
    data = raw_exchange(srv.port, b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, headers, body = parse_response(data)
    assert status == 200 and headers["connection"] == "close" and body == b"Hello, world!"


def test_pipelined_requests_are_answered_in_order(srv):
    requests = (
        b"".join(b"GET /echo/%d HTTP/1.1\r\nHost: x\r\n\r\n" % index for index in range(20))
        + b"GET /sleep?s=0.2 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo/last HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(requests)
        paths = []
        for _ in range(22):
            status, _, body = read_response(sock)
            assert status == 200
            paths.append(json.loads(body)["path"] if body.startswith(b"{") else body.decode())
    assert paths[:20] == [f"/echo/{index}" for index in range(20)]
    assert paths[20].startswith("slept")
    assert paths[21] == "/echo/last"


def test_many_pipelined_requests_with_a_client_that_reads_late(srv):
    """The server stops reading while responses pile up, then answers every one in order."""
    count = 2000
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.settimeout(30)
        payload = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" * count
        sock.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 30
        received = b""
        while sent < len(payload) and time.monotonic() < deadline:
            try:
                sent += sock.send(payload[sent : sent + 65536])
            except BlockingIOError:
                # The server applies back-pressure; read some answers to make progress.
                try:
                    received += sock.recv(1 << 20)
                except BlockingIOError:
                    time.sleep(0.01)
        sock.setblocking(True)
        sock.settimeout(30)
        while received.count(b"Hello, world!") < count:
            received += sock.recv(1 << 20)
    assert received.count(b"HTTP/1.1 200 OK") == count


def test_chunked_request_body(srv):
    data = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    status, _, seen = echo(srv, data)
    assert status == 200 and seen["body"] == "hello world"


def test_body_larger_than_spool_threshold_is_intact(srv):
    body = bytes(range(256)) * 64  # 16 KiB, spooled to disk (BODY_SPOOL_SIZE 4096)
    with httpx.Client() as client:
        seen = client.post(srv.url("/echo"), content=body).json()
    assert seen["body"].encode("latin-1") == body


def test_expect_100_continue(srv):
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        sock.settimeout(10)
        interim = sock.recv(1024)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"data")
        status, _, body = read_response(sock)
        assert status == 200 and json.loads(body)["body"] == "data"


def test_expect_100_continue_refused_when_too_large(srv):
    data = raw_exchange(
        srv.port,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
        % (MAX_REQUEST + 1),
    )
    assert data.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in data


def test_head_has_headers_but_no_body(srv):
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(
            b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        sock.settimeout(10)
        data = b""
        while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"Hello, world!"):
            data += sock.recv(65536)
    first, second = data.split(b"HTTP/1.1 200 OK")[1:]
    assert b"Content-Length: 13" in first and first.endswith(b"\r\n\r\n")
    assert second.endswith(b"Hello, world!")


def test_streamed_response_is_chunked(srv):
    with httpx.Client() as client:
        response = client.get(srv.url("/stream?n=4&size=3"))
        assert response.headers["transfer-encoding"] == "chunked"
        assert response.text == "000111222333"
        assert client.get(srv.url("/async-stream")).text == "part0;part1;part2;"


def test_streamed_response_to_http10_ends_with_close(srv):
    data = raw_exchange(srv.port, b"GET /stream?n=2&size=2 HTTP/1.0\r\n\r\n")
    status, headers, body = parse_response(data)
    assert status == 200 and body == b"0011" and "transfer-encoding" not in headers


def test_file_response_and_delete_file(srv, tmp_path):
    path = tmp_path / "big.bin"
    content = bytes(range(256)) * 4096 * 2  # 2 MiB, sent with sendfile
    path.write_bytes(content)
    with httpx.Client() as client:
        response = client.get(srv.url("/file"), params={"path": str(path), "download": "big.bin"})
        assert response.content == content
        assert response.headers["content-disposition"].startswith("attachment;")
        assert path.exists()
        response = client.get(srv.url("/file"), params={"path": str(path), "delete": "1"})
        assert response.content == content
    wait_for(lambda: not path.exists())
    with httpx.Client() as client:
        missing = client.get(srv.url("/file"), params={"path": str(path)})
    assert missing.status_code == 404


def test_delete_file_also_when_client_disconnects(srv, tmp_path):
    path = tmp_path / "huge.bin"
    path.write_bytes(b"x" * (32 * 1024 * 1024))
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /file?delete=1&path=%s HTTP/1.1\r\nHost: x\r\n\r\n" % str(path).encode())
        sock.recv(1024)
    wait_for(lambda: not path.exists(), timeout=15)


def test_cookies_and_redirects_and_error_helper(srv):
    with httpx.Client() as client:
        response = client.get(srv.url("/cookies"))
        cookies = response.headers.get_list("set-cookie")
        assert cookies[0] == "a=1; Path=/"
        assert cookies[1] == "b=two%20words; Max-Age=60; Path=/; Secure; HttpOnly; SameSite=Lax"
        moved = client.get(srv.url("/redirect"))
        assert moved.status_code == 302
        assert moved.headers["location"] == f"http://127.0.0.1:{srv.port}/hello"
        assert client.get(srv.url("/redirect?p=1")).status_code == 301
        page = client.get(srv.url("/error"))
        assert page.status_code == 418 and "&lt;bad&gt; &amp; wrong" in page.text
        as_json = client.get(srv.url("/error"), headers={"Accept": "application/json"})
        assert as_json.json() == {"error": "<bad> & wrong"}


def test_not_found_and_method_not_allowed(srv):
    with httpx.Client() as client:
        assert client.get(srv.url("/missing")).status_code == 404
        refused = client.get(srv.url("/post-only"))
        assert refused.status_code == 405 and refused.headers["allow"] == "POST"
        assert client.post(srv.url("/post-only")).text == "posted"
        assert client.get(srv.url("/bytes")).content == b"\x00\x01binary"


def test_handler_exception_is_500_without_details(srv):
    with httpx.Client() as client:
        for path in ("/boom", "/async-boom"):
            response = client.get(srv.url(path))
            assert response.status_code == 500
            assert "secret-detail" not in response.text
            assert "Traceback" not in response.text
    wait_for(lambda: "secret-detail-in-exception" in srv.logs())


# -- malformed and oversized input -------------------------------------------------------------
BAD_REQUESTS = {
    "garbage": (b"GARBAGE\r\n\r\n", 400),
    "bad header": (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
    "nul in target": (b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "cl and te": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "duplicate cl": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        400,
    ),
    "duplicate host": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "missing host": (b"GET /hello HTTP/1.1\r\n\r\n", 400),
    "te on http/1.0": (b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "http/2.0": (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    "http/1.2": (b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505),
    "bad chunk": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    ),
    "long target": (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "big head": (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: " + b"b" * 70000 + b"\r\n\r\n", 431),
    "many headers": (
        b"GET / HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: 1\r\n" % i for i in range(101))
        + b"\r\n",
        431,
    ),
    "too large cl": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (MAX_REQUEST + 1),
        413,
    ),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_bad_input_gets_a_clear_status_and_the_connection_closed(srv, name):
    data, expected = BAD_REQUESTS[name]
    answer = raw_exchange(srv.port, data)
    status, headers, _ = parse_response(answer)
    assert status == expected, answer[:200]
    assert headers["connection"] == "close"


def test_chunked_body_crossing_the_limit_gets_413_when_crossed(srv):
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent <= MAX_REQUEST + 65536:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_answers_before_a_malformed_request_are_still_sent(srv):
    answer = raw_exchange(srv.port, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nBROKEN\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK") and b"HTTP/1.1 400 " in answer


def test_incomplete_head_times_out_with_408(srv):
    started = time.monotonic()
    answer = raw_exchange(srv.port, b"GET /hello HTTP/1.1\r\nHost: x\r\n", timeout=15)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 10


def test_slow_body_times_out_with_408(srv):
    answer = raw_exchange(
        srv.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", timeout=15
    )
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_idle_keep_alive_connection_is_closed(srv):
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        read_response(sock)
        started = time.monotonic()
        assert read_all(sock, timeout=15) == b""
        assert time.monotonic() - started < 10


def _staggered_requests(port: int, first: bytes, rest: bytes) -> list[bytes]:
    """Four connections opened 0.25 s apart; each sends `first` at once and `rest` 0.6 s later.
    The server's clock ticks once a second, so some tick falls within every 0.6 s wait, at every
    phase of it: one of the four waits across each possible tick (what a 1 s timeout must
    survive). The answers of the connections whose wait really stayed under a second (a
    loaded machine may oversleep), the others' as None."""
    events = sorted(
        [(0.25 * i, "open", i) for i in range(4)] + [(0.25 * i + 0.6, "rest", i) for i in range(4)]
    )
    socks: dict[int, socket.socket] = {}
    opened: dict[int, float] = {}
    in_time: set[int] = set()
    started = time.monotonic()
    try:
        for at, action, index in events:
            time.sleep(max(0.0, started + at - time.monotonic()))
            if action == "open":
                opened[index] = time.monotonic()
                socks[index] = socket.create_connection(("127.0.0.1", port))
                socks[index].sendall(first)
                continue
            if time.monotonic() - opened[index] < 0.95:
                in_time.add(index)
            try:
                socks[index].sendall(rest)
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed early: what the answer read below shows
        answers = [read_all(socks[index], timeout=15) for index in range(4)]
        return [answers[index] if index in in_time else None for index in range(4)]
    finally:
        for sock in socks.values():
            sock.close()


def _statuses_in_time(answers: list[bytes | None]) -> list[bytes]:
    return [answer[:15] for answer in answers if answer is not None]


def test_a_new_connection_has_the_whole_keep_alive_timeout_for_its_first_request(srv):
    """KEEPALIVE_TIMEOUT=1: a client that connects and sends its request 0.6 s later is
    answered, whenever the server's once-a-second clock ticks in between."""
    answers = _staggered_requests(
        srv.port, b"", b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    statuses = _statuses_in_time(answers)
    assert statuses == [b"HTTP/1.1 200 OK"] * len(statuses)


def test_a_head_has_the_whole_header_timeout(srv):
    """HEADER_TIMEOUT=1: a head whose second half comes 0.6 s after its first is answered."""
    answers = _staggered_requests(
        srv.port, b"GET /hello HTTP/1.1\r\n", b"Host: x\r\nConnection: close\r\n\r\n"
    )
    statuses = _statuses_in_time(answers)
    assert statuses == [b"HTTP/1.1 200 OK"] * len(statuses)


def test_a_head_trickled_in_pieces_is_still_limited(srv):
    """The head limit holds when a huge header arrives over many segments."""
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ")
        answer = b""
        try:
            for _ in range(40):  # up to 80 KiB, past the 64 KiB limit
                sock.sendall(b"a" * 2048)
                time.sleep(0.005)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_head_of_a_streamed_response_keeps_the_connection_in_step(srv):
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200 OK") and head.endswith(b"\r\n\r\n")
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = read_response(sock)
        assert (status, body) == (200, b"Hello, world!")


def test_a_streamed_204_has_neither_framing_nor_body(srv):
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(
            b"GET /stream-204 HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        status, headers, body = read_response(sock)
        assert status == 204 and body == b""
        assert "transfer-encoding" not in headers and "content-length" not in headers
        assert read_response(sock)[2] == b"Hello, world!"


def test_an_async_handler_ending_cancelled_is_answered_and_the_pipeline_goes_on(srv):
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(
            b"GET /cancelled HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        assert read_response(sock)[0] == 500
        assert read_response(sock)[2] == b"Hello, world!"


def test_a_delete_file_response_is_deleted_even_when_the_client_left_first(srv, tmp_path):
    path = tmp_path / "report.bin"
    path.write_bytes(b"r" * 1000)
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        # Linger 0: closing resets the connection, so the server sees it gone at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(b"GET /slow-file?s=1&path=%s HTTP/1.1\r\nHost: x\r\n\r\n" % str(path).encode())
    # The client closed before the handler returned its response: nothing is sent, and the
    # file the response owned is removed all the same.
    wait_for(lambda: not path.exists(), timeout=20)


def test_a_generator_is_closed_cleanly_when_the_client_leaves_mid_stream(srv):
    before = int(httpx.get(srv.url("/slow-stream-closed")).text)
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(b"GET /slow-stream HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(10)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
    # The generator's own cleanup runs (close() is called once its next() has returned),
    # and leaving is not logged as a failure of the server.
    wait_for(lambda: int(httpx.get(srv.url("/slow-stream-closed")).text) == before + 1, timeout=20)
    assert "generator already executing" not in srv.logs()

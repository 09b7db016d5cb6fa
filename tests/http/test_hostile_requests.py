"""Requests as an attacker or an odd client sends them: each is answered or cut, never held.

Trailers, request-target forms, Host syntax, transfer codings, declined upgrades, chunk framing,
empty lines, and clients that never read. Raw bytes over real sockets to a real server.
"""

from __future__ import annotations

import json
import socket
import time

import psutil
import pytest
from support import (
    ServerProcess,
    parse_response,
    raw_exchange,
    read_all,
    tcp_connections,
    wait_for,
)

from hwebserver import Request

HEADER_TIMEOUT = 2
SEND_TIMEOUT = 2


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    process = ServerProcess(
        "echo_app.py",
        tmp_path_factory.mktemp("hostile"),
        {
            "settings": {
                "HEADER_TIMEOUT": HEADER_TIMEOUT,
                "KEEPALIVE_TIMEOUT": 30,  # so that only the timeout under test can close
                "SEND_TIMEOUT": SEND_TIMEOUT,
                "MAX_HEADER_COUNT": 1000,
            },
        },
    )
    process.start()
    yield process
    process.stop()


def worker(srv: ServerProcess) -> psutil.Process:
    status, _, body = parse_response(raw_exchange(srv.port, b"GET /pid HTTP/1.0\r\n\r\n"))
    assert status == 200
    return psutil.Process(int(body))


def open_connections(process: psutil.Process, port: int) -> int:
    """Connections of the worker on the service's port, as the kernel sees them."""
    return sum(
        1
        for c in tcp_connections(process)
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


def echo(srv: ServerProcess, data: bytes) -> tuple[int, dict[str, str], object]:
    status, headers, body = parse_response(raw_exchange(srv.port, data))
    return status, headers, json.loads(body) if status == 200 else body


def chunked_post(trailer: bytes) -> bytes:
    return (
        b"POST /echo HTTP/1.1\r\nHost: good.example\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\n" + trailer + b"\r\n"
    )


# -- trailers -------------------------------------------------------------------------------


def test_trailers_are_kept_apart_from_the_headers(srv):
    trailer = (
        b"Host: evil.example\r\nCookie: session=stolen\r\nAuthorization: Basic ZXZpbDpldmls\r\n"
        b"X-Forwarded-Host: evil.example\r\nX-Checksum: abc123\r\n"
    )
    status, _, seen = echo(srv, chunked_post(trailer))
    assert status == 200
    assert isinstance(seen, dict)
    assert seen["body"] == "hello"
    assert seen["host"] == "good.example"
    assert seen["cookies"] == {}
    for name in ("Authorization", "Cookie", "X-Checksum", "X-Forwarded-Host"):
        assert name not in seen["headers"]
    assert seen["headers"]["Host"] == "good.example"
    # request.trailers(): only the fields that may be trailers
    assert seen["trailers"] == {"X-Checksum": "abc123"}


def test_a_content_length_trailer_is_refused(srv):
    answer = raw_exchange(srv.port, chunked_post(b"Content-Length: 99\r\n"))
    assert answer.startswith(b"HTTP/1.1 400 ")  # llhttp's own rule: framing in a trailer


def test_a_trailer_flood_is_cut_with_431_while_others_are_served(srv):
    process = worker(srv)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(chunked_post(b"")[: -len(b"\r\n")])  # the trailer section begins
        line = b"X-Flood: " + b"a" * 1000 + b"\r\n"
        sent = 0
        try:
            while sent < 10_000_000:  # a limit of its own: the test stops by itself
                sock.sendall(line * 64)
                sent += len(line) * 64
        except OSError:
            pass  # the server refused and closed
        answer = read_all(sock, timeout=10)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert worker(srv).pid == process.pid  # same worker, still serving


def pour(srv: ServerProcess, start: bytes, endless: bytes) -> bytes:
    """Send `start`, then `endless` over and over (up to 64 MiB, so the test stops by itself)
    until the server refuses; what it answered."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(start)
        try:
            for _ in range((64 << 20) // len(endless)):
                sock.sendall(endless)
        except OSError:
            pass  # the server refused and closed
        return read_all(sock, timeout=10)


def test_one_endless_trailer_line_is_cut_with_431(srv):
    start = chunked_post(b"")[: -len(b"\r\n")] + b"X-Long: "
    answer = pour(srv, start, b"a" * 65536)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_too_many_trailer_fields_get_431(srv):
    trailer = b"".join(b"X-T%d: 1\r\n" % i for i in range(1001))
    status, _, _ = parse_response(raw_exchange(srv.port, chunked_post(trailer)))
    assert status == 431


def test_the_header_dict_is_linear_in_repeated_fields():
    """Joining 200,000 repeats of one name into the growing string took quadratic time (a
    service may raise MAX_HEADER_COUNT); the bound is generous for a linear build."""
    count = 200_000
    request = Request(
        None,  # type: ignore[arg-type]
        "GET",
        b"/",
        "/",
        b"",
        [(b"Host", b"x")] + [(b"X-Many", b"value-of-some-length")] * count,
        "1.1",
    )
    started = time.monotonic()
    headers = request.headers()
    assert time.monotonic() - started < 5
    assert headers["X-Many"].count("value-of-some-length") == count
    assert headers["Host"] == "x"


# -- request targets and methods ------------------------------------------------------------


def test_options_star_is_answered_with_allow(srv):
    answer = raw_exchange(srv.port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, headers, body = parse_response(answer)
    assert status == 204
    assert "GET" in headers["allow"] and "OPTIONS" in headers["allow"]
    assert body == b""


@pytest.mark.parametrize("method", [b"GET", b"POST", b"DELETE"])
def test_star_with_another_method_is_400(srv, method):
    answer = raw_exchange(srv.port, method + b" * HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize(
    "target", [b"example.com:443", b"/echo", b"127.0.0.1:%d" % 0, b"http://x/echo"]
)
def test_connect_is_501(srv, target):
    answer = raw_exchange(srv.port, b"CONNECT " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 501 ")


@pytest.mark.parametrize("target", [b"echo", b"example.com:80", b"ftp://x/echo", b"http:///echo"])
def test_malformed_targets_are_400(srv, target):
    answer = raw_exchange(srv.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_300_odd_targets_leave_no_connection_open(srv):
    """OPTIONS * and CONNECT once hung their connections forever (a prefix route exists)."""
    process = worker(srv)
    before = open_connections(process, srv.port)
    sockets = []
    try:
        for index in range(300):
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            sockets.append(sock)
            odd = b"OPTIONS * HTTP/1.1\r\n" if index % 2 else b"CONNECT h:1 HTTP/1.1\r\n"
            sock.sendall(odd + b"Host: x\r\nConnection: close\r\n\r\n")
        for sock in sockets:
            assert read_all(sock, timeout=10).startswith(b"HTTP/1.1 ")
        wait_for(lambda: open_connections(process, srv.port) <= before, timeout=10)
    finally:
        for sock in sockets:
            sock.close()


def test_absolute_form_routes_on_its_path_and_takes_its_host(srv):
    status, _, seen = echo(
        srv,
        b"GET http://target.example:8080/echo/abs?q=1 HTTP/1.1\r\nHost: header.example\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert status == 200
    assert isinstance(seen, dict)
    assert seen["path"] == "/echo/abs"
    assert seen["GET"] == {"q": "1"}
    assert seen["host"] == "target.example:8080"
    assert seen["headers"]["Host"] == "target.example:8080"


@pytest.mark.parametrize(
    "host", [b"h, evil", b"h evil", b"h/x", b"h@evil", b"h\\x", b"[::1", b"h:80:81", b"h,evil"]
)
def test_malformed_host_is_400(srv, host):
    answer = raw_exchange(srv.port, b"GET /echo HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:100]


@pytest.mark.parametrize(
    "host", [b"example.com", b"example.com:8080", b"127.0.0.1:1", b"[::1]:8008", b"a_b.local", b""]
)
def test_well_formed_hosts_are_served(srv, host):
    answer = raw_exchange(
        srv.port, b"GET /hello HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:100]


# -- fields that may appear once (RFC 9110 §5.3) -------------------------------------------

TWO_VALUES = {
    "content-type": b"Content-Type: text/plain\r\nContent-Type: application/json\r\n",
    "authorization": b"Authorization: Basic YTpi\r\nauthorization: Bearer other\r\n",
    "proxy-authorization": b"Proxy-Authorization: a\r\nProxy-Authorization: b\r\n",
    "origin": b"Origin: https://a.example\r\nOrigin: https://b.example\r\n",
    "range": b"Range: bytes=0-1\r\nRange: bytes=5-9\r\n",
    "if-modified-since": (
        b"If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        b"If-Modified-Since: Mon, 07 Nov 1994 08:49:37 GMT\r\n"
    ),
    "content-length": b"Content-Length: 2\r\nContent-Length: 3\r\n",
    "host": b"Host: other.example\r\n",
}


@pytest.mark.parametrize("field", sorted(TWO_VALUES))
def test_two_values_of_a_singleton_field_are_400(srv, field):
    """Joined into "a, b" they would mean neither: which type, whose credentials?"""
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\n" + TWO_VALUES[field]
    if field != "content-length":
        head += b"Content-Length: 3\r\n"
    answer = raw_exchange(srv.port, head + b"\r\nabc")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    if field not in ("content-length", "host"):  # llhttp's and the Host check's own messages
        assert f"two different values of the header field {field}".encode() in answer.lower()


def test_two_values_of_a_singleton_field_are_400_on_a_kept_alive_connection(srv):
    """The second request of a connection is held to it as the first (the per-message state)."""
    ok = b"GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YTpi\r\n\r\n"
    bad = ok[:-2] + b"Authorization: Basic Yzpk\r\n\r\n"
    answer = raw_exchange(srv.port, ok + bad)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert answer.count(b"HTTP/1.1 ") == 2 and b"HTTP/1.1 400 " in answer


def test_an_identical_repeat_of_a_singleton_field_is_one_value(srv):
    status, _, seen = echo(
        srv,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        b"Authorization: Basic YTpi\r\nContent-Type: text/plain\r\n"
        b"Authorization:  Basic YTpi \r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    )
    assert status == 200
    assert isinstance(seen, dict)
    assert seen["content_type"] == "text/plain"
    assert seen["headers"]["Content-Type"] == "text/plain"
    assert seen["headers"]["Authorization"] == "Basic YTpi"
    assert seen["body"] == "abc"


def test_an_identical_repeat_of_content_length_is_still_400(srv):
    """llhttp's rule, unchanged: framing is never guessed."""
    answer = raw_exchange(
        srv.port,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    )
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]


def test_list_fields_may_repeat(srv):
    status, _, seen = echo(
        srv,
        b"GET /echo HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nAccept: application/json\r\n"
        b"X-Custom: 1\r\nX-Custom: 2\r\nConnection: close\r\n\r\n",
    )
    assert status == 200
    assert isinstance(seen, dict)
    assert seen["headers"]["Accept"] == "text/html, application/json"
    assert seen["headers"]["X-Custom"] == "1, 2"


@pytest.mark.parametrize("coding", [b"gzip, chunked", b"deflate,chunked", b"x-custom, chunked"])
def test_transfer_codings_other_than_chunked_are_501(srv, coding):
    answer = raw_exchange(
        srv.port,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + coding + b"\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 501 "), answer[:100]


# -- upgrades we do not speak ---------------------------------------------------------------


def test_an_h2c_upgrade_is_served_as_http11_with_its_body(srv):
    request = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\n"
        b"hello=world"
    )
    pipelined = b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = raw_exchange(srv.port, request + pipelined)
    first, _, second = answer.partition(b"HTTP/1.1 200 OK\r\nContent-Type: text/html")
    status, _, body = parse_response(first)
    assert status == 200
    seen = json.loads(body)
    assert seen["body"] == "hello=world"
    assert seen["method"] == "POST"
    assert b"Hello, world!" in second  # the connection went on as HTTP/1.1


def test_a_chunked_body_with_an_unknown_upgrade_is_kept(srv):
    request = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: foo/2\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    status, _, seen = echo(srv, request)
    assert status == 200
    assert isinstance(seen, dict)
    assert seen["body"] == "hello world"


# -- chunk framing and empty lines ----------------------------------------------------------


def test_an_endless_chunk_extension_is_cut(srv):
    start = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext="
    answer = pour(srv, start, b"e" * 65536)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_framing_that_trickles_without_body_times_out(srv):
    """Extension bytes keep arriving, but the body does not grow: 408, as for a stalled body."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e=")
        started = time.monotonic()
        answer = b""
        sock.settimeout(0.2)
        while time.monotonic() - started < HEADER_TIMEOUT + 10 and not answer:
            try:
                sock.sendall(b"x")
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]


def test_a_few_empty_lines_before_a_request_are_ignored(srv):
    answer = raw_exchange(
        srv.port, b"\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_endless_empty_lines_are_cut_with_400(srv):
    answer = pour(srv, b"", b"\r\n" * 32768)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]


# -- clients that never read ----------------------------------------------------------------


def lifetime_of_unread_response(srv: ServerProcess, path: bytes) -> float:
    """Ask for a large response and read none of it; seconds until the server cut it."""
    process = worker(srv)
    before = open_connections(process, srv.port)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        wait_for(lambda: open_connections(process, srv.port) > before, timeout=10)
        wait_for(lambda: open_connections(process, srv.port) <= before, timeout=SEND_TIMEOUT + 20)
        return time.monotonic() - started


@pytest.mark.parametrize("path", [b"/big?mb=50", b"/endless?n=2000"])
def test_a_client_that_never_reads_is_cut_after_send_timeout(srv, path):
    lifetime = lifetime_of_unread_response(srv, path)
    assert lifetime >= SEND_TIMEOUT - 1

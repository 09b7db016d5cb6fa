"""WSGI mounts (PEP 3333): Flask, a Django project and raw apps, through a real server."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time

import httpx
import psutil
import pytest
from support import ServerProcess, parse_response, raw_exchange, read_all, wait_for


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    process = ServerProcess(
        "wsgi_apps.py", tmp_path_factory.mktemp("wsgi"), expect_ports=("main", "admin")
    )
    try:
        process.start()
        yield process
    finally:
        process.stop()


# -- the answer's blocks and its end, in order -------------------------------------------------------
def test_a_streamed_answer_ends_after_its_blocks_while_other_threads_finish_theirs(srv):
    """Several handler threads at once, each streaming a generator's blocks on a kept-alive
    connection: the end of an answer (its last chunk) is written after the blocks its thread
    wrote, even when the loop learns that the thread finished together with other threads'
    results. Once, it could come first: the next answer on that connection then began with
    a stray `0` (an "illegal status line" for the client), about one request in a hundred."""
    clients, rounds = 8, 150
    failures: list[str] = []

    def client(number: int) -> None:
        path = "/raw/two-blocks" if number % 2 else "/plain"  # other threads' results too
        expected = b"first;second" if number % 2 else b"plain handler"
        with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=1)) as session:
            for _ in range(rounds):
                try:
                    response = session.get(srv.url(path))
                except httpx.HTTPError as error:
                    failures.append(f"{path}: {error!r}")
                    return
                if (response.status_code, response.content) != (200, expected):
                    failures.append(f"{path}: {response.status_code} {response.content[:80]!r}")
                    return

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a client never finished"
    assert not failures, failures


# -- Flask ----------------------------------------------------------------------------------------
def test_flask_view_sees_its_mount_prefix(srv):
    data = httpx.get(srv.url("/flask/")).json()
    assert data["path"] == "/"
    assert data["script_root"] == "/flask"
    assert data["url_for"] == "/flask/form"
    assert data["external"] == f"http://127.0.0.1:{srv.port}/flask/"


def test_flask_form_post_with_a_file(srv):
    response = httpx.post(
        srv.url("/flask/form"), data={"x": "1", "y": "two"}, files={"f": ("a.txt", b"data")}
    )
    assert response.json() == {"fields": {"x": "1", "y": "two"}, "files": ["f"]}


def test_flask_streamed_response_is_chunked(srv):
    response = httpx.get(srv.url("/flask/stream?n=5"))
    assert response.text == "".join(f"row{i}\n" for i in range(5))
    assert response.headers["transfer-encoding"] == "chunked"


def test_a_longer_url_handler_wins_over_the_mount(srv):
    assert httpx.get(srv.url("/flask/override")).text == "urlHandler override"
    assert httpx.get(srv.url("/plain")).text == "plain handler"


# -- Django -----------------------------------------------------------------------------------------
def test_django_view_path_and_reverse_show_the_prefix(srv):
    data = httpx.get(srv.url("/django/")).json()
    assert data["path"] == "/django/"
    assert data["path_info"] == "/"
    assert data["script_name"] == "/django"
    assert data["reverse"] == "/django/form/"
    assert data["absolute"] == f"http://127.0.0.1:{srv.port}/django/"


def test_django_form_post(srv):
    response = httpx.post(srv.url("/django/form/"), data={"x": "1"}, files={"f": ("b", b"z")})
    assert response.json() == {"fields": {"x": "1"}, "files": ["f"]}


def test_django_streaming_response(srv):
    response = httpx.get(srv.url("/django/stream/?n=4"))
    assert response.text == "row0\nrow1\nrow2\nrow3\n"
    assert response.headers["transfer-encoding"] == "chunked"


# -- PEP 3333 details, with raw apps --------------------------------------------------------------
def test_script_name_and_path_info(srv):
    data = httpx.get(srv.url("/raw/environ?q=1"), headers={"X-Test": "yes"}).json()
    assert data["SCRIPT_NAME"] == "/raw"
    assert data["PATH_INFO"] == "/environ"
    assert data["QUERY_STRING"] == "q=1"
    assert data["HTTP_X_TEST"] == "yes"
    assert data["SERVER_PROTOCOL"] == "HTTP/1.1"
    root = httpx.get(srv.url("/x/y", port_name="admin")).text
    assert root == "admin '' '/x/y'"  # a mount at / of another port: SCRIPT_NAME is empty


def test_escaped_path_info_and_underscore_headers(srv):
    """PATH_INFO is the unescaped path as latin-1 text (PEP 3333), with or without escapes in
    it; a header name with '_' never shadows its '-' twin: on a first request and once the
    server has seen the names before."""
    escaped_path = "/caf\xc3\xa9 x/y"  # the UTF-8 bytes of /café x/y, one char per byte
    for _ in range(2):
        assert httpx.get(srv.url("/caf%C3%A9%20x%2Fy", port_name="admin")).text == (
            f"admin '' {escaped_path!r}"
        )
        assert httpx.get(srv.url("/plain/path", port_name="admin")).text == (
            "admin '' '/plain/path'"
        )
        data = httpx.get(
            srv.url("/raw/environ"), headers=[("X_Test", "shadow"), ("X-Test", "yes")]
        ).json()
        assert data["HTTP_X_TEST"] == "yes"


def test_write_callable_and_exc_info(srv):
    assert httpx.get(srv.url("/raw/write")).text == "written-then-returned"
    response = httpx.get(srv.url("/raw/exc-info"))
    assert response.status_code == 503  # start_response again with exc_info, before any body
    assert response.text == "replaced by exc_info"


def test_wsgi_errors_goes_to_the_server_log(srv):
    assert httpx.get(srv.url("/raw/errors")).text == "logged"
    wait_for(lambda: "wsgi.errors: custom-wsgi-error-line" in srv.logs())
    assert httpx.get(srv.url("/raw/errors-unended")).text == "logged"
    wait_for(lambda: "wsgi.errors: unended-wsgi-error-line" in srv.logs())


def test_file_wrapper_is_sent_whole_with_a_length(srv, tmp_path):
    path = tmp_path / "payload.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    path.write_bytes(data)
    response = httpx.get(srv.url("/raw/file"), params={"path": str(path)}, timeout=60)
    assert response.content == data
    # Iterating the wrapper would have been chunked: a length means it went out as a file.
    assert response.headers["content-length"] == str(len(data))
    tail = httpx.get(srv.url("/raw/file"), params={"path": str(path), "offset": "1000"})
    assert tail.content == data[1000:]


def test_a_file_wrapper_after_a_write_follows_it_under_the_one_head(srv, tmp_path):
    """Once, the file went out with sendfile behind a second head, in the middle of the
    chunked answer the write() had begun."""
    path = tmp_path / "payload.bin"
    data = os.urandom(100_000)
    path.write_bytes(data)
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=1)) as client:
        for _ in range(2):  # and the connection goes on
            response = client.get(srv.url("/raw/write-then-file"), params={"path": str(path)})
            assert response.status_code == 200
            assert response.headers["transfer-encoding"] == "chunked"
            assert response.content == b"before;" + data


def _closed(srv) -> list[str]:
    return httpx.get(srv.url("/raw/closed")).json()


def test_close_is_called_after_success_failure_and_disconnect(srv):
    assert httpx.get(srv.url("/raw/tracked/ok")).text == "one-two"
    wait_for(lambda: "ok" in _closed(srv))
    with pytest.raises(httpx.HTTPError):  # fails after the head: the connection is cut
        httpx.get(srv.url("/raw/tracked/fails"))
    wait_for(lambda: "fails" in _closed(srv))
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"GET /raw/tracked/endless HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536)  # the endless body has started
    wait_for(lambda: "endless" in _closed(srv), timeout=30)


def test_app_sees_the_first_bytes_before_the_upload_ends(srv):
    """wsgi.input streams: the app answers about the first block while the client still holds
    back the rest of the body."""
    total = 8 * 1024 * 1024
    digest = hashlib.sha256()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        head = f"POST /raw/upload HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n"
        sock.sendall(head.encode())
        first = os.urandom(65536)
        digest.update(first)
        sock.sendall(first)
        received = b""
        while b"first 65536\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, "connection closed early"
            received += chunk
        rest = os.urandom(total - len(first))
        digest.update(rest)
        sock.sendall(rest)
        while b"0\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, "connection closed early"
            received += chunk
    assert f"total {total} {digest.hexdigest()}".encode() in received


def test_a_large_post_is_not_held_in_memory(srv):
    """96 MiB into an app that reads slower than the client sends: reading from the socket
    pauses while the app lags, so the server's memory grows by far less than the body."""
    process = psutil.Process(srv.pid)
    before = process.memory_info().rss
    size = 96 * 1024 * 1024
    block = os.urandom(1024 * 1024)
    peak = 0

    def body():
        nonlocal peak
        for _ in range(size // len(block)):
            peak = max(peak, process.memory_info().rss)
            yield block

    response = httpx.post(srv.url("/raw/upload?slow=1"), content=body(), timeout=120)
    lines = response.text.splitlines()
    assert lines[0] == "first 65536"
    assert lines[1].startswith(f"total {size} ")
    assert peak - before < 32 * 1024 * 1024, (before, peak)


def test_a_large_chunked_post_streams_too(srv):
    block = os.urandom(1 << 20)

    def body():
        for _ in range(16):
            yield block

    expected = hashlib.sha256(block * 16).hexdigest()
    response = httpx.post(srv.url("/raw/upload"), content=body(), timeout=60)
    assert response.text.splitlines()[1] == f"total {16 << 20} {expected}"


def test_pipelined_request_behind_a_streamed_upload_is_answered_in_order(srv):
    body = b"z" * 300_000
    data = (
        b"POST /raw/upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
        + b"GET /raw/environ HTTP/1.1\r\nHost: x\r\n\r\n"
        + b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        sock.sendall(data)
        raw = read_all(sock)
    first = raw.index(b"total 300000")
    second = raw.index(b'"PATH_INFO": "/environ"')
    third = raw.index(b"plain handler")
    assert first < second < third
    assert raw.count(b"HTTP/1.1 200 OK") == 3


def test_expect_continue_is_sent_when_the_app_reads(srv):
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        sock.sendall(
            b"POST /raw/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"hello")
        status, _, body = parse_response(read_all(sock, until_close=False))
    assert status == 200
    assert b"total 5 " in body


def test_no_100_continue_once_the_answer_has_started(srv):
    """An app that streams part of its answer, then reads the body: a 100 Continue now would
    land inside the answer's body. The client, waiting in vain, sends the body anyway."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        sock.sendall(
            b"POST /raw/answer-then-read HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        received = b""
        while b"answered;" not in received:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
        sock.settimeout(1.0)  # the app now waits for the body: nothing more may come
        try:
            received += sock.recv(65536)
        except TimeoutError:
            pass
        sock.settimeout(30)
        sock.sendall(b"hello")
        received += read_all(sock, until_close=True)
    assert b"100 Continue" not in received
    status, headers, body = parse_response(received)
    assert status == 200
    assert headers["connection"] == "close"  # it cannot tell whether the body would come
    assert body == b"9\r\nanswered;\r\n6\r\nread 5\r\n0\r\n\r\n"


def test_an_app_that_never_reads_does_not_stall_the_connection(srv):
    """A mount that answers without reading the body: the rest is read and dropped, and the
    next request on the connection is answered."""
    body = b"q" * (2 * 1024 * 1024)
    with httpx.Client(timeout=30) as client:
        response = client.post(srv.url("/raw/environ"), content=body)
        assert response.json()["CONTENT_LENGTH"] == str(len(body))
        assert client.get(srv.url("/plain")).text == "plain handler"
        started = time.monotonic()
        assert client.get(srv.url("/raw/environ")).status_code == 200
        assert time.monotonic() - started < 10


# -- each answer framed by its own start_response() and request -----------------------------------
def _ask(sock: socket.socket, target: str, method: str = "GET", extra: str = "") -> bytes:
    sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
    return _one_head(sock)


def _one_head(sock: socket.socket) -> bytes:
    """The head of the next answer on the socket (its body, if any, left to read)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(1)  # byte by byte: nothing of what follows the head is consumed
        assert chunk, received
        received += chunk
    return received


def _body(sock: socket.socket, head: bytes) -> bytes:
    _, headers, _ = parse_response(head)
    length = int(headers["content-length"])
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        assert chunk, body
        body += chunk
    return body


def test_answers_alike_but_for_one_thing_are_each_framed_right(srv):
    """The same app answering the same headers again, but for the body's size, the status, a
    HEAD, the client's HTTP version or its Connection header: every answer has its own head."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        for size in (3, 5, 3):  # no Content-Length from the app: the list's size is given
            head = _ask(sock, f"/raw/framed?n={size}")
            assert parse_response(head)[1]["content-length"] == str(size)
            assert _body(sock, head) == b"x" * size
        head = _ask(sock, "/raw/framed?n=5&status=404+Not+Found")
        assert head.startswith(b"HTTP/1.1 404 Not Found\r\n")
        assert _body(sock, head) == b"xxxxx"
        head = _ask(sock, "/raw/framed?n=5&cl=5")
        assert _body(sock, head) == b"xxxxx"
        head = _ask(sock, "/raw/framed?n=5&cl=5", method="HEAD")
        assert parse_response(head)[1]["content-length"] == "5"
        # No body after a HEAD's head: the next answer follows it directly.
        head = _ask(sock, "/raw/framed?n=2")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert _body(sock, head) == b"xx"
        head = _ask(sock, "/raw/framed?n=2", extra="Connection: close\r\n")
        assert parse_response(head)[1]["connection"] == "close"
        assert _body(sock, head) == b"xx"
        assert read_all(sock) == b""  # and closed
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        sock.sendall(b"GET /raw/framed?n=2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        head = _one_head(sock)
        assert parse_response(head)[1]["connection"] == "keep-alive"  # HTTP/1.0 must be told
        assert _body(sock, head) == b"xx"
        head = _ask(sock, "/raw/framed?n=2")
        assert "connection" not in parse_response(head)[1]
        assert _body(sock, head) == b"xx"


def test_a_str_subclass_header_never_changes_how_plain_str_are_encoded(srv):
    httpx.get(srv.url("/raw/framed?n=1&odd=1"))
    assert httpx.get(srv.url("/raw/framed?n=1&odd=0")).headers["x-odd"] == "plain"


def test_an_answer_given_again_later_has_the_date_of_its_time(srv):
    def date() -> str:
        return httpx.get(srv.url("/raw/framed?n=1")).headers["date"]

    first = date()
    wait_for(lambda: date() != first, timeout=10)


@pytest.mark.parametrize("shape", ["lists", "iterator"])
def test_header_pairs_as_lists_or_an_iterator_are_accepted_every_time(srv, shape):
    for _ in range(3):
        response = httpx.get(srv.url(f"/raw/framed?n=4&cl=4&shape={shape}"))
        assert response.headers["content-type"] == "text/plain"
        assert response.headers["content-length"] == "4"
        assert response.text == "xxxx"


def test_a_header_value_that_is_not_str_is_refused_every_time(srv):
    for _ in range(2):
        assert httpx.get(srv.url("/raw/framed?n=4&cl=4")).text == "xxxx"
        response = httpx.get(srv.url("/raw/framed?n=4&cl=4&bytes=1"))
        assert response.status_code == 500
        assert "xxxx" not in response.text


# -- the environ: each request's own ------------------------------------------------------------
def _environ(sock: socket.socket, target: str, version: str = "1.1", extra: str = "") -> dict:
    sock.sendall(f"GET {target} HTTP/{version}\r\nHost: x\r\n{extra}\r\n".encode())
    head = _one_head(sock)
    return json.loads(_body(sock, head))


def test_every_environ_key_is_the_request_s_own(srv):
    """Two connections, several requests each: the address keys are the connection's, the
    rest the request's, and nothing of an earlier request (a header, a key the app set) is
    left in a later one's environ."""
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
            client_port = sock.getsockname()[1]
            first = _environ(sock, "/raw/environ-all?a=1", extra="X-Only-First: 1\r\n")
            assert first == {
                "REQUEST_METHOD": "GET",
                "SCRIPT_NAME": "/raw",
                "PATH_INFO": "/environ-all",
                "QUERY_STRING": "a=1",
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": str(srv.port),
                "SERVER_PROTOCOL": "HTTP/1.1",
                "REMOTE_ADDR": "127.0.0.1",
                "REMOTE_PORT": str(client_port),
                "wsgi.version": [1, 0],
                "wsgi.url_scheme": "http",
                "wsgi.input": "BytesIO",
                "wsgi.input_terminated": True,
                "wsgi.errors": "ErrorStream",
                "wsgi.multithread": True,
                "wsgi.multiprocess": True,
                "wsgi.run_once": False,
                "wsgi.file_wrapper": "type",
                "HTTP_HOST": "x",
                "HTTP_X_ONLY_FIRST": "1",
            }
            second = _environ(
                sock, "/raw/environ-all", version="1.0", extra="Connection: keep-alive\r\n"
            )
            assert second["QUERY_STRING"] == ""
            assert second["SERVER_PROTOCOL"] == "HTTP/1.0"
            assert second["HTTP_CONNECTION"] == "keep-alive"
            assert second["REMOTE_PORT"] == str(client_port)
            assert "HTTP_X_ONLY_FIRST" not in second
            assert "HTTP_X_SET_BY_THE_APP" not in second


def test_the_same_target_under_two_mounts_has_each_mount_s_script_name(srv):
    for _ in range(2):
        main = httpx.get(srv.url("/raw/environ-all")).json()
        assert (main["SCRIPT_NAME"], main["PATH_INFO"]) == ("/raw", "/environ-all")
        admin = httpx.get(srv.url("/raw/environ-all", port_name="admin")).json()
        assert (admin["SCRIPT_NAME"], admin["PATH_INFO"]) == ("", "/raw/environ-all")
        assert admin["SERVER_PORT"] != main["SERVER_PORT"]


# -- one-block lists (answered with the end of the exchange) and what is not one ---------------------
@pytest.mark.parametrize(("kind", "body"), [("empty", b""), ("bytearray", b"from a bytearray")])
def test_a_one_block_list_is_answered_with_its_length(srv, kind, body):
    for _ in range(2):
        response = httpx.get(srv.url(f"/raw/list-of/{kind}"))
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(body))
        assert response.content == body


def test_a_block_that_is_not_bytes_or_a_failure_before_any_block_is_a_500(srv):
    for target in ("/raw/list-of/str", "/raw/raises-after-start"):
        response = httpx.get(srv.url(target))
        assert response.status_code == 500
    wait_for(lambda: "failed after start_response, before any block" in srv.logs())
    assert httpx.get(srv.url("/raw/list-of/empty")).status_code == 200  # the worker goes on


def test_a_one_block_list_longer_or_shorter_than_its_content_length(srv):
    """Longer: cut to the announced length. Shorter: the head and the block go out, then the
    connection is cut (the client can tell the answer is incomplete), as for any iterable."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        head = _ask(sock, "/raw/list-of/long")
        assert parse_response(head)[1]["content-length"] == "5"
        assert _body(sock, head) == b"xxxxx"
        head = _ask(sock, "/raw/list-of/long")  # nothing of the cut part came before it
        assert _body(sock, head) == b"xxxxx"
    raw = raw_exchange(srv.port, b"GET /raw/list-of/short HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = parse_response(raw)
    assert (status, headers["content-length"], body) == (200, "100", b"x" * 13)
    wait_for(lambda: "ended 87 bytes short of its Content-Length" in srv.logs())


def test_a_list_with_close_sends_its_block_before_close_returns(srv):
    """A list subclass with close() is an iterable like any other: its block goes out at once,
    and close() is called once, after it, even though close() takes its time."""
    before = _closed(srv).count("closing-list")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        head = _ask(sock, "/raw/closing-list")  # close() is still waiting for /raw/release
        assert _body(sock, head) == b"block before close"
        assert httpx.get(srv.url("/raw/release")).text == "released"
    wait_for(lambda: _closed(srv).count("closing-list") == before + 1)

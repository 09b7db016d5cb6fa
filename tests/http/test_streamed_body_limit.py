"""A body streaming to a mounted app that crosses max_request_size: the client reads one
answer for its request, the 413, never the app's answer followed by a 413."""

from __future__ import annotations

import re
import socket
import time

import httpx
import pytest
from support import ServerProcess, read_all

LIMIT = 100_000
CHUNK = 10_000


@pytest.fixture(scope="module")
def asgi_srv(tmp_path_factory):
    root = tmp_path_factory.mktemp("asgi-limit")
    with ServerProcess(
        "asgi_apps.py", root, {"max_request_size": LIMIT}, expect_ports=("main", "other")
    ) as process:
        yield process


@pytest.fixture(scope="module")
def wsgi_srv(tmp_path_factory):
    root = tmp_path_factory.mktemp("wsgi-limit")
    with ServerProcess(
        "wsgi_apps.py", root, {"max_request_size": LIMIT}, expect_ports=("main", "admin")
    ) as process:
        yield process


def chunked_head(target: str) -> bytes:
    return f"POST {target} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".encode()


def send_too_much(sock: socket.socket) -> None:
    """Chunks past the limit, a little at a time, as an upload arrives."""
    try:
        for _ in range(2 * LIMIT // CHUNK):
            sock.sendall(b"%x\r\n%s\r\n" % (CHUNK, b"a" * CHUNK))
            time.sleep(0.002)
        sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading: what a client sees after a refusal


def upload_too_much(srv: ServerProcess, target: str, before: bytes = b"") -> bytes:
    """A chunked upload past the limit to `target` (after the requests in `before`, on the
    same connection); all the client reads back."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(before + chunked_head(target))
        send_too_much(sock)
        return read_all(sock)


def statuses(answer: bytes) -> list[bytes]:
    """Every status line, also one that follows a body without a line break."""
    return re.findall(rb"HTTP/1\.1 \d{3} [^\r]*", answer)


def test_asgi_app_reading_the_body_gets_refused_by_a_lone_413(asgi_srv):
    answer = upload_too_much(asgi_srv, "/raw/chunks")
    assert statuses(answer) == [b"HTTP/1.1 413 Request Entity Too Large"]
    assert httpx.get(asgi_srv.url("/raw/after")).status_code == 200


def test_a_refused_request_queued_behind_another_is_answered_in_its_place(asgi_srv):
    answer = upload_too_much(
        asgi_srv, "/raw/chunks", before=b"GET /raw/first HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    assert statuses(answer) == [b"HTTP/1.1 200 OK", b"HTTP/1.1 413 Request Entity Too Large"]


def test_an_app_that_answered_early_is_cut_not_followed_by_a_413(asgi_srv):
    # Its head is out before the body crosses the limit: the answer cannot become a 413 any
    # more; it stops short and the connection ends, which says it failed.
    answer = upload_too_much(asgi_srv, "/raw/early")
    assert statuses(answer) == [b"HTTP/1.1 200 OK"]
    assert b"started" in answer
    assert b"read " not in answer and not answer.endswith(b"0\r\n\r\n")


def test_wsgi_app_reading_the_body_gives_the_client_one_answer(wsgi_srv):
    # /raw/upload answers after its first 64 KiB: a 413 when the limit is crossed before
    # that, else its own answer, stopped short.
    answer = upload_too_much(wsgi_srv, "/raw/upload")
    assert len(statuses(answer)) == 1
    assert b"total" not in answer  # the app never saw its body end
    assert httpx.get(wsgi_srv.url("/raw/environ")).status_code == 200


def test_wsgi_body_within_the_limit_still_streams(wsgi_srv):
    payload = b"b" * (LIMIT // 2)
    response = httpx.post(wsgi_srv.url("/raw/upload"), content=payload)
    assert response.status_code == 200
    assert response.text.startswith("first ")
    assert f"total {len(payload)} " in response.text


def test_wsgi_app_that_answers_after_its_body_was_refused_writes_nothing(wsgi_srv):
    answer = upload_too_much(wsgi_srv, "/raw/swallow")
    assert statuses(answer) == [b"HTTP/1.1 413 Request Entity Too Large"]
    assert httpx.get(wsgi_srv.url("/raw/environ")).status_code == 200
    logs = wsgi_srv.logs()
    assert "Exception in callback" not in logs and "after write_eof" not in logs, logs[-2000:]

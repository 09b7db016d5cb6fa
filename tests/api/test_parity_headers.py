"""A handler's own Server or Date header replaces the default one; Transfer-Encoding: chunked
set by a handler makes its response chunked (the Response docs: Content-Length is set "unless
you set the Transfer-Encoding header to chunked")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import ServerProcess, raw_exchange


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess("parity_headers_app.py", tmp_path_factory.mktemp("parity-headers")) as s:
        yield s


def exchange(srv: ServerProcess, path: str, version: str = "1.1", method: str = "GET") -> bytes:
    request = f"{method} {path} HTTP/{version}\r\nHost: x\r\nConnection: close\r\n\r\n"
    return raw_exchange(srv.port, request.encode())


def head_lines(data: bytes) -> list[str]:
    return data.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]


def values(data: bytes, name: str) -> list[str]:
    prefix = name.lower() + ":"
    return [
        line.split(":", 1)[1].strip()
        for line in head_lines(data)
        if line.lower().startswith(prefix)
    ]


def dechunk(body: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert body == b"\r\n"
            return out
        out += body[:size]
        assert body[size : size + 2] == b"\r\n"
        body = body[size + 2 :]


@pytest.mark.parametrize("path", ["/own-server", "/own-server-stream"])
def test_own_server_header_replaces_the_default(srv: ServerProcess, path: str) -> None:
    data = exchange(srv, path)
    assert len(values(data, "Server")) == 1
    assert values(data, "Server")[0] in ("Houdini-Plugin/1.0", "Streamer")
    assert len(values(data, "Date")) == 1


def test_own_date_header_replaces_the_default(srv: ServerProcess) -> None:
    data = exchange(srv, "/own-date")
    assert values(data, "Date") == ["Tue, 01 Jan 2030 00:00:00 GMT"]
    assert len(values(data, "Server")) == 1


def test_default_server_and_date_are_still_sent(srv: ServerProcess) -> None:
    data = exchange(srv, "/is-chunked")
    assert len(values(data, "Server")) == 1
    assert len(values(data, "Date")) == 1


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/chunked", b"0123456789" * 10), ("/chunked-then-body", b"body set after the header")],
)
def test_transfer_encoding_chunked_makes_the_response_chunked(
    srv: ServerProcess, path: str, expected: bytes
) -> None:
    data = exchange(srv, path)
    assert data.startswith(b"HTTP/1.1 200")
    assert values(data, "Transfer-Encoding") == ["chunked"]
    assert values(data, "Content-Length") == []
    assert dechunk(data.partition(b"\r\n\r\n")[2]) == expected


def test_chunked_head_has_no_body(srv: ServerProcess) -> None:
    data = exchange(srv, "/chunked", method="HEAD")
    assert values(data, "Transfer-Encoding") == ["chunked"]
    assert data.endswith(b"\r\n\r\n")


def test_http10_client_gets_the_body_until_close(srv: ServerProcess) -> None:
    data = exchange(srv, "/chunked", version="1.0")
    assert values(data, "Transfer-Encoding") == []
    assert data.partition(b"\r\n\r\n")[2] == b"0123456789" * 10


def test_removed_header_goes_back_to_a_length(srv: ServerProcess) -> None:
    data = exchange(srv, "/chunked-removed")
    assert values(data, "Transfer-Encoding") == []
    assert values(data, "Content-Length") == ["16"]
    assert data.partition(b"\r\n\r\n")[2] == b"back to a length"


def test_is_chunked_reports_it(srv: ServerProcess) -> None:
    assert exchange(srv, "/is-chunked").partition(b"\r\n\r\n")[2] == b"False True"

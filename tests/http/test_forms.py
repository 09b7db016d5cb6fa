"""Form bodies over real sockets: urlencoded and multipart fields, uploads, malformed bodies."""

from __future__ import annotations

import hashlib
import json
import os
import socket

import httpx
import pytest
from multipart_bodies import BOUNDARY, CONTENT_TYPE, body, field_part, file_head, file_part
from support import read_all, server, wait_for

THRESHOLD = 1000  # max_in_memory_file_upload_size for these tests


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with server(
        tmp_path_factory.mktemp("forms"),
        "forms_app.py",
        max_in_memory_file_upload_size=THRESHOLD,
    ) as process:
        yield process


def post_raw(port: int, target: str, payload: bytes, content_type: str = CONTENT_TYPE) -> bytes:
    head = (
        f"POST {target} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + payload)
        return read_all(sock)


def post_chunked(port: int, target: str, pieces: list[bytes]) -> bytes:
    head = (
        f"POST {target} HTTP/1.1\r\nHost: t\r\nContent-Type: {CONTENT_TYPE}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for piece in pieces:
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\n\r\n")
        return read_all(sock)


def test_urlencoded_fields(srv):
    response = httpx.post(
        srv.url("/form"),
        content="a=1&b=two+words&c=%C3%A9t%C3%A9&empty=&a=last&flag&n%C3%A4me=v",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    result = response.json()
    assert result["fields"] == {
        "a": "last",
        "b": "two words",
        "c": "été",
        "empty": "",
        "flag": "",
        "näme": "v",
    }
    assert result["files"] == {}
    assert result["body_length"] == result["content_length"]


def test_urlencoded_without_escapes_splits_the_same(srv):
    # No '%' and no '+': the body is decoded once, then split (raw UTF-8, a byte that is not
    # UTF-8, empty pairs, '=' inside a value, a name alone).
    payload = "a=1&&b=x=y&flag&c=été&=nameless&d=".encode() + b"\xff&a=again"
    answer = post_raw(srv.port, "/form", payload, "application/x-www-form-urlencoded")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(body)["fields"] == {
        "a": "again",
        "b": "x=y",
        "flag": "",
        "c": "été",
        "": "nameless",
        "d": "\ufffd",
    }


def test_urlencoded_from_httpx_and_async_handler(srv):
    data = {"x": "1", "ünïcode": "välue & more=stuff"}
    for path in ("/form", "/async-form"):
        result = httpx.post(srv.url(path), data=data).json()
        assert result["fields"] == data


def test_multipart_fields_and_files_in_memory_and_on_disk(srv):
    small = b"small file contents"
    large = os.urandom(THRESHOLD * 5)
    response = httpx.post(
        srv.url("/form"),
        data={"title": "hello", "ünï": "cödé"},
        files={
            "small": ("small.txt", small, "text/plain"),
            "large": ("large.bin", large, "application/x-thing"),
        },
    )
    assert response.status_code == 200
    result = response.json()
    assert result["fields"] == {"title": "hello", "ünï": "cödé"}
    small_info, large_info = result["files"]["small"], result["files"]["large"]
    assert small_info["name"] == "small.txt"
    assert small_info["size"] == len(small)
    assert small_info["content_type"] == "text/plain"
    assert small_info["in_memory"] is True
    assert small_info["path"] == ""
    assert small_info["sha256"] == hashlib.sha256(small).hexdigest()
    assert large_info["name"] == "large.bin"
    assert large_info["size"] == len(large)
    assert large_info["content_type"] == "application/x-thing"
    assert large_info["in_memory"] is False
    assert large_info["path_exists"] is True
    assert os.path.basename(os.path.dirname(large_info["path"])).startswith("hwebserver-req-")
    assert large_info["sha256"] == hashlib.sha256(large).hexdigest()
    # Removed once the response is sent.
    wait_for(lambda: not os.path.exists(large_info["path"]))


def test_in_memory_threshold_is_inclusive(srv):
    files = {
        "at": ("at.bin", b"a" * THRESHOLD),
        "over": ("over.bin", b"b" * (THRESHOLD + 1)),
    }
    result = httpx.post(srv.url("/form"), files=files).json()
    assert result["files"]["at"]["in_memory"] is True
    assert result["files"]["over"]["in_memory"] is False


def test_read_in_chunks_continues_where_it_stopped(srv):
    data = os.urandom(THRESHOLD * 3 + 17)
    for name, payload in (("mem.bin", data[:THRESHOLD]), ("disk.bin", data)):
        result = httpx.post(srv.url("/form?chunk=100"), files={"file": (name, payload)}).json()
        info = result["files"]["file"]
        assert info["chunk_sizes"] == [100] * 5
        assert info["chunks"] == -(-len(payload) // 100)
        assert info["sha256"] == hashlib.sha256(payload).hexdigest()


def test_save_to_disk_moves_an_in_memory_upload(srv):
    result = httpx.post(
        srv.url("/form/save?first=3"), files={"file": ("f.txt", b"abcdefgh")}
    ).json()
    assert result["was_in_memory"] is True
    assert result["in_memory"] is False
    assert result["path_exists"] is True
    assert result["head"] == "abc"
    assert result["rest"] == "defgh"
    assert result["size"] == 8
    wait_for(lambda: not os.path.exists(result["path"]))  # gone with the request


def test_save_to_disk_is_a_no_op_on_disk(srv):
    payload = b"z" * (THRESHOLD * 2)
    result = httpx.post(srv.url("/form/save?first=5"), files={"file": ("f", payload)}).json()
    assert result["was_in_memory"] is False
    assert result["head"] + result["rest"] == payload.decode()


def test_unicode_field_and_file_names(srv):
    result = httpx.post(
        srv.url("/form"),
        data={"名前": "値"},
        files={"ファイル": ("データ ünï.txt", "ß€".encode(), "text/plain; charset=utf-8")},
    ).json()
    assert result["fields"] == {"名前": "値"}
    info = result["files"]["ファイル"]
    assert info["name"] == "データ ünï.txt"
    assert info["content_type"] == "text/plain; charset=utf-8"


def test_empty_file_and_unchosen_file_input(srv):
    payload = body(
        file_part("empty", "empty.txt", b""),
        file_part("unchosen", "", b"", "application/octet-stream"),
        field_part("after", "still here"),
    )
    response = httpx.post(srv.url("/form"), content=payload, headers={"Content-Type": CONTENT_TYPE})
    result = response.json()
    assert result["files"]["empty"]["size"] == 0
    assert result["files"]["empty"]["name"] == "empty.txt"
    assert result["files"]["empty"]["in_memory"] is True
    assert "unchosen" not in result["files"]  # a browser's file input left empty
    assert result["fields"] == {"after": "still here"}


def test_many_parts(srv):
    fields = {f"field{i}": f"value {i}" for i in range(300)}
    files = {f"file{i}": (f"name{i}.bin", bytes([i]) * (i * 40)) for i in range(60)}
    result = httpx.post(srv.url("/form"), data=fields, files=files).json()
    assert result["fields"] == fields
    assert len(result["files"]) == 60
    assert result["files"]["file59"]["size"] == 59 * 40
    assert result["files"]["file59"]["in_memory"] is False
    assert result["files"]["file10"]["in_memory"] is True


def test_preamble_less_body_split_in_every_place(srv):
    """A body arriving one byte per chunk parses the same as in one piece."""
    payload = body(field_part("a", "1"), file_part("f", "f.txt", b"hello\r\nworld"))
    pieces = [payload[i : i + 1] for i in range(len(payload))]
    response = post_chunked(srv.port, "/form", pieces)
    assert b" 200 " in response.split(b"\r\n", 1)[0]
    assert b'"a": "1"' in response
    assert b'"size": 12' in response


def test_raw_body_of_small_and_large_multipart(srv):
    small = body(field_part("a", "1"))
    response = httpx.post(
        srv.url("/form/body"), content=small, headers={"Content-Type": CONTENT_TYPE}
    )
    assert response.content == small
    large = body(file_part("f", "f.bin", b"x" * (2 * 1024 * 1024)))
    result = httpx.post(
        srv.url("/form"), content=large, headers={"Content-Type": CONTENT_TYPE}
    ).json()
    assert result["body_length"].startswith("not kept: ")
    assert "POST() and files()" in result["body_length"]
    assert result["content_length"] == len(large)
    assert result["files"]["f"]["size"] == 2 * 1024 * 1024


def test_non_form_bodies_have_no_fields(srv):
    result = httpx.post(srv.url("/form"), json={"a": 1}).json()
    assert result["fields"] == {} and result["files"] == {}
    assert result["body_length"] == len(b'{"a":1}')


def test_empty_multipart_body_is_an_empty_form(srv):
    result = httpx.post(
        srv.url("/form"), content=b"", headers={"Content-Type": CONTENT_TYPE}
    ).json()
    assert result["fields"] == {} and result["files"] == {}


@pytest.mark.parametrize(
    ("content_type", "payload", "message"),
    [
        ("multipart/form-data", body(field_part("a", "1")), b"without a boundary"),
        (CONTENT_TYPE, field_part("a", "1"), b"ends before its closing boundary"),
        (CONTENT_TYPE, file_head("f", "f.bin") + b"partial data", b"closing boundary"),
        (CONTENT_TYPE, b"garbage that is not multipart at all\r\n", b"malformed form body"),
        (
            CONTENT_TYPE,
            f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nv\r\n--{BOUNDARY}--\r\n".encode(),
            b"has no name",
        ),
    ],
)
def test_malformed_multipart_is_400_with_a_message(srv, content_type, payload, message):
    response = post_raw(srv.port, "/form", payload, content_type)
    assert response.startswith(b"HTTP/1.1 400 ")
    assert message in response
    # The same body sent chunked fails the same way (errors from append() and from finish()).
    if content_type == CONTENT_TYPE:
        chunked = post_chunked(srv.port, "/form", [payload[:7], payload[7:]])
        assert chunked.startswith(b"HTTP/1.1 400 ")
        assert message in chunked


def test_malformed_form_answer_is_json_for_json_clients(srv):
    head = (
        f"POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: {CONTENT_TYPE}\r\n"
        "Accept: application/json\r\nContent-Length: 5\r\n\r\nhello"
    ).encode()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(head)
        response = read_all(sock)
    assert response.startswith(b"HTTP/1.1 400 ")
    assert b"application/json" in response
    assert b'{"error": "malformed form body:' in response


def test_server_still_serves_after_bad_bodies(srv):
    post_raw(srv.port, "/form", b"junk")
    assert httpx.post(srv.url("/form"), data={"ok": "1"}).json()["fields"] == {"ok": "1"}


def test_large_urlencoded_body_streams_through_the_parser(srv):
    """Past 64 KiB the urlencoded parser decodes fields as they stream in, across chunks."""
    fields = {f"key{i}": f"välue {i} & more" for i in range(5000)}
    payload = httpx.Request("POST", "http://x/", data=fields).read()
    assert len(payload) > 64 * 1024
    head = (
        b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(head)
        for start in range(0, len(payload), 997):  # pieces that split names and escapes
            piece = payload[start : start + 997]
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\n\r\n")
        response = read_all(sock)
    result = json.loads(response.partition(b"\r\n\r\n")[2])
    assert result["fields"] == fields
    assert result["body_length"] == len(payload)

"""registerStaticFilesDirectory over real sockets: validators, ranges, traversal, ports."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from support import ServerProcess, parse_response, raw_exchange

SECRET = b"TOP SECRET outside the served directory"
BIG_SIZE = 1024 * 1024 + 123


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("static")
    root = base / "public"
    (root / "sub").mkdir(parents=True)
    (root / "dir").mkdir()
    (root / "index.txt").write_bytes(b"hello static\n")
    (root / "sub" / "style.css").write_bytes(b"body { color: red }\n")
    (root / "space name.txt").write_bytes(b"spaced\n")
    (root / "empty.txt").write_bytes(b"")
    (root / "big.bin").write_bytes(random.Random(4).randbytes(BIG_SIZE))
    (root / "special").mkdir()
    (root / "special" / "x.txt").write_bytes(b"the file behind the handler\n")
    (base / "secret.txt").write_bytes(SECRET)
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    os.symlink(base / "secret.txt", root / "escape")
    os.symlink(outside, root / "escape-dir")
    os.symlink(root / "index.txt", root / "inner-link.txt")
    assets = base / "assets"
    assets.mkdir()
    (assets / "logo.svg").write_bytes(b"<svg/>")
    return {"base": base, "root": root, "assets": assets}


@pytest.fixture(scope="module")
def srv(tree: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    static = [
        [str(tree["root"]), "/static", -1],
        [str(tree["assets"]), "/files", "assets"],
    ]
    process = ServerProcess(
        "configured_app.py",
        tmp_path_factory.mktemp("static-server"),
        {"ports": ["assets"]},
        env={"HWEBSERVER_TEST_STATIC": json.dumps(static)},
        expect_ports=("main", "assets"),
    )
    with process:
        yield process


def raw_get(srv: ServerProcess, target: bytes, method: bytes = b"GET") -> tuple[int, bytes]:
    data = raw_exchange(
        srv.port, method + b" " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    status, _, _ = parse_response(data)
    return status, data


def test_get_serves_the_file_with_validators(srv, client, tree):
    response = client.get(srv.url("/static/index.txt"))
    assert response.status_code == 200
    assert response.content == b"hello static\n"
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["content-length"] == "13"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"].startswith('"')
    stat = (tree["root"] / "index.txt").stat()
    assert int(parsedate_to_datetime(response.headers["last-modified"]).timestamp()) == int(
        stat.st_mtime
    )
    css = client.get(srv.url("/static/sub/style.css"))
    assert css.status_code == 200
    assert css.headers["content-type"] == "text/css"
    assert client.get(srv.url("/static/space%20name.txt")).content == b"spaced\n"
    empty = client.get(srv.url("/static/empty.txt"))
    assert empty.status_code == 200 and empty.content == b""


def test_big_file_is_sent_whole(srv, client, tree):
    response = client.get(srv.url("/static/big.bin"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == (tree["root"] / "big.bin").read_bytes()


def test_head_has_the_headers_and_no_body(srv, client):
    response = client.head(srv.url("/static/index.txt"))
    assert response.status_code == 200
    assert response.headers["content-length"] == "13"
    assert "etag" in response.headers
    status, data = raw_get(srv, b"/static/index.txt", b"HEAD")
    assert status == 200
    assert data.endswith(b"\r\n\r\n")  # nothing after the head


def test_other_methods_get_405_with_allow(srv, client):
    for method in ("POST", "PUT", "DELETE"):
        response = client.request(method, srv.url("/static/index.txt"))
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD"


def test_if_none_match_answers_304(srv, client):
    etag = client.get(srv.url("/static/index.txt")).headers["etag"]
    response = client.get(srv.url("/static/index.txt"), headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert "content-length" not in response.headers
    weak = client.get(srv.url("/static/index.txt"), headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304
    star = client.get(srv.url("/static/index.txt"), headers={"If-None-Match": "*"})
    assert star.status_code == 304
    other = client.get(srv.url("/static/index.txt"), headers={"If-None-Match": '"other"'})
    assert other.status_code == 200 and other.content == b"hello static\n"


def test_if_modified_since_answers_304(srv, client):
    last_modified = client.get(srv.url("/static/index.txt")).headers["last-modified"]
    response = client.get(
        srv.url("/static/index.txt"), headers={"If-Modified-Since": last_modified}
    )
    assert response.status_code == 304
    older = client.get(
        srv.url("/static/index.txt"),
        headers={"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"},
    )
    assert older.status_code == 200
    # If-None-Match takes precedence: a stale ETag means a full answer whatever the date says.
    both = client.get(
        srv.url("/static/index.txt"),
        headers={"If-None-Match": '"stale"', "If-Modified-Since": last_modified},
    )
    assert both.status_code == 200
    garbage = client.get(srv.url("/static/index.txt"), headers={"If-Modified-Since": "yesterday"})
    assert garbage.status_code == 200


def test_a_changed_file_gets_a_new_etag(srv, client, tree):
    path = tree["root"] / "changing.txt"
    path.write_bytes(b"version one")
    first = client.get(srv.url("/static/changing.txt"))
    path.write_bytes(b"version two, longer")
    os.utime(path, (1_000_000_000, 1_000_000_000))
    second = client.get(
        srv.url("/static/changing.txt"), headers={"If-None-Match": first.headers["etag"]}
    )
    assert second.status_code == 200
    assert second.content == b"version two, longer"
    assert second.headers["etag"] != first.headers["etag"]


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=1000-", 1000, BIG_SIZE - 1),
        ("bytes=-50", BIG_SIZE - 50, BIG_SIZE - 1),
        ("bytes=500000-99999999", 500000, BIG_SIZE - 1),
        ("bytes=-99999999", 0, BIG_SIZE - 1),
        ("BYTES = 7 - 7", 7, 7),
    ],
)
def test_single_range_gets_206(srv, client, tree, range_header, first, last):
    data = (tree["root"] / "big.bin").read_bytes()
    response = client.get(srv.url("/static/big.bin"), headers={"Range": range_header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {first}-{last}/{BIG_SIZE}"
    assert response.headers["content-length"] == str(last - first + 1)
    assert response.content == data[first : last + 1]


@pytest.mark.parametrize("range_header", ["bytes=99999999-", "bytes=-0", f"bytes={BIG_SIZE}-"])
def test_unsatisfiable_range_gets_416(srv, client, range_header):
    response = client.get(srv.url("/static/big.bin"), headers={"Range": range_header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{BIG_SIZE}"


def test_range_of_an_empty_file_is_unsatisfiable(srv, client):
    response = client.get(srv.url("/static/empty.txt"), headers={"Range": "bytes=0-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */0"


@pytest.mark.parametrize(
    "range_header", ["bytes=0-1,5-6", "bytes=abc", "items=0-1", "bytes=9-3", "bytes=-"]
)
def test_other_ranges_get_the_whole_file(srv, client, range_header):
    response = client.get(srv.url("/static/index.txt"), headers={"Range": range_header})
    assert response.status_code == 200
    assert response.content == b"hello static\n"


def test_if_range_and_head_with_range(srv, client):
    etag = client.get(srv.url("/static/index.txt")).headers["etag"]
    matching = client.get(
        srv.url("/static/index.txt"), headers={"Range": "bytes=0-4", "If-Range": etag}
    )
    assert matching.status_code == 206 and matching.content == b"hello"
    stale = client.get(
        srv.url("/static/index.txt"), headers={"Range": "bytes=0-4", "If-Range": '"old"'}
    )
    assert stale.status_code == 200 and stale.content == b"hello static\n"
    head = client.head(srv.url("/static/index.txt"), headers={"Range": "bytes=0-4"})
    assert head.status_code == 200 and head.headers["content-length"] == "13"


def test_ranges_on_one_keep_alive_connection(srv, tree):
    data = (tree["root"] / "big.bin").read_bytes()
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=1)) as client:
        for start in range(0, BIG_SIZE, 200_003):
            response = client.get(
                srv.url("/static/big.bin"), headers={"Range": f"bytes={start}-{start + 99}"}
            )
            assert response.content == data[start : start + 100]


def test_file_responses_are_not_held_back(srv, tree):
    # Files go out corked (head and data in full segments); a cork left on would hold each
    # small response's only segment back for the kernel's 200 ms.
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=1)) as client:
        started = time.monotonic()
        for _ in range(20):
            assert client.get(srv.url("/static/index.txt")).content == b"hello static\n"
        elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"20 small files took {elapsed:.1f} s on one connection"


TRAVERSALS = [
    b"/static/../secret.txt",
    b"/static/%2e%2e/secret.txt",
    b"/static/%2E%2E/secret.txt",
    b"/static/.%2e/secret.txt",
    b"/static/..%2fsecret.txt",
    b"/static/%2e%2e%2fsecret.txt",
    b"/static/sub/..%2f..%2fsecret.txt",
    b"/static/sub/../../secret.txt",
    b"/static%2f..%2fsecret.txt",
    b"/static/..\\secret.txt",
    b"/static/..%5csecret.txt",
    b"/static/%5c..%5csecret.txt",
    b"/static/escape",
    b"/static/escape-dir/secret.txt",
    b"/static/%2fetc%2fpasswd",
    b"/static//etc/passwd",
    b"/static/index.txt%00.png",
    b"/static/%00",
    b"http://x/static/../secret.txt",
]


@pytest.mark.parametrize("target", TRAVERSALS, ids=[t.decode() for t in TRAVERSALS])
def test_paths_leaving_the_directory_get_404(srv, target):
    status, data = raw_get(srv, target)
    assert status == 404
    assert SECRET not in data
    assert b"root:" not in data


def test_raw_nul_in_the_request_line_is_refused(srv):
    status, data = raw_get(srv, b"/static/index.txt\x00/../../secret.txt")
    assert status == 400
    assert SECRET not in data


def test_symlink_inside_the_directory_is_served(srv, client):
    assert client.get(srv.url("/static/inner-link.txt")).content == b"hello static\n"


@pytest.mark.parametrize(
    "path", ["/static", "/static/", "/static/sub", "/static/sub/", "/static/missing.txt"]
)
def test_directories_and_missing_files_get_404(srv, client, path):
    response = client.get(srv.url(path))
    assert response.status_code == 404
    assert "index.txt" not in response.text


def test_a_longer_url_handler_wins(srv, client):
    for path in ("/static/special", "/static/special/x.txt"):
        response = client.get(srv.url(path))
        assert response.status_code == 200
        assert response.text == "handler beats static files"
    # the handlers of the app still answer around the static prefix
    assert client.get(srv.url("/hello")).text == "Hello, world!"


def test_port_selection_by_name(srv, client):
    # "/static" was registered with port=-1: every port serves it.
    assert client.get(srv.url("/static/index.txt", "assets")).content == b"hello static\n"
    # "/files" only on the port named "assets".
    assert client.get(srv.url("/files/logo.svg", "assets")).content == b"<svg/>"
    assert client.get(srv.url("/files/logo.svg", "assets")).headers["content-type"] == (
        "image/svg+xml"
    )
    assert client.get(srv.url("/files/logo.svg")).status_code == 404

"""registerArchiveFile (Houdini 19.0-21.0): the files of a zip archive, served with the rules
of registerStaticFilesDirectory (validators, 304, Range, traversal, ports)."""

from __future__ import annotations

import random
import time
import zipfile
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from support import ServerProcess, parse_response, raw_exchange, wait_for

DATE = (2021, 6, 15, 10, 20, 30)
BIG = random.Random(7).randbytes(200_000) + b"text " * 40_000


def write_archive(path: Path, index_text: bytes = b"hello from the zip\n") -> None:
    with zipfile.ZipFile(path, "w") as archive:
        stored = zipfile.ZipInfo("index.txt", DATE)
        archive.writestr(stored, index_text, compress_type=zipfile.ZIP_STORED)
        archive.writestr(zipfile.ZipInfo("big.bin", DATE), BIG, zipfile.ZIP_DEFLATED)
        archive.writestr(zipfile.ZipInfo("sub/style.css", DATE), b"body {}\n", zipfile.ZIP_DEFLATED)
        archive.writestr(zipfile.ZipInfo("dir/", DATE), b"")
        archive.writestr(zipfile.ZipInfo("../evil.txt", DATE), b"outside the prefix")
        archive.writestr(zipfile.ZipInfo("empty.txt", DATE), b"", zipfile.ZIP_STORED)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("archive") / "site.zip"
    write_archive(path)
    return path


@pytest.fixture(scope="module")
def srv(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        "parity_archive_app.py",
        tmp_path_factory.mktemp("archive-server"),
        {"ports": ["admin"], "workers": 2},
        env={"HWEBSERVER_TEST_ARCHIVE": str(archive)},
        expect_ports=("main", "admin"),
    )
    with process:
        yield process


def raw_status(srv: ServerProcess, target: bytes, method: bytes = b"GET") -> int:
    data = raw_exchange(
        srv.port, method + b" " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    return parse_response(data)[0]


@pytest.mark.parametrize(("name", "body"), [("index.txt", None), ("big.bin", BIG)])
def test_get_serves_members_with_validators(srv: ServerProcess, name: str, body: bytes) -> None:
    response = httpx.get(srv.url(f"/arch/{name}"))
    assert response.status_code == 200
    assert response.content == (body if body is not None else b"hello from the zip\n")
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"].startswith('"')
    modified = parsedate_to_datetime(response.headers["last-modified"]).timestamp()
    assert modified == time.mktime((*DATE, 0, 0, -1))


def test_content_type_and_nested_member(srv: ServerProcess) -> None:
    response = httpx.get(srv.url("/arch/sub/style.css"))
    assert response.content == b"body {}\n"
    assert response.headers["content-type"].startswith("text/css")
    assert httpx.get(srv.url("/arch/index.txt")).headers["content-type"].startswith("text/plain")
    empty = httpx.get(srv.url("/arch/empty.txt"))
    assert (empty.status_code, empty.content) == (200, b"")


def test_head_has_the_length_and_no_body(srv: ServerProcess) -> None:
    response = httpx.head(srv.url("/arch/big.bin"))
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(BIG))
    assert response.content == b""


@pytest.mark.parametrize("name", ["index.txt", "big.bin"])
def test_conditional_requests_get_304(srv: ServerProcess, name: str) -> None:
    first = httpx.get(srv.url(f"/arch/{name}"))
    by_tag = httpx.get(srv.url(f"/arch/{name}"), headers={"If-None-Match": first.headers["etag"]})
    assert by_tag.status_code == 304 and by_tag.content == b""
    assert by_tag.headers["etag"] == first.headers["etag"]
    since = {"If-Modified-Since": first.headers["last-modified"]}
    assert httpx.get(srv.url(f"/arch/{name}"), headers=since).status_code == 304
    other = httpx.get(srv.url(f"/arch/{name}"), headers={"If-None-Match": '"other"'})
    assert other.status_code == 200


@pytest.mark.parametrize("name", ["index.txt", "big.bin"])
def test_ranges(srv: ServerProcess, name: str) -> None:
    full = httpx.get(srv.url(f"/arch/{name}")).content
    part = httpx.get(srv.url(f"/arch/{name}"), headers={"Range": "bytes=3-9"})
    assert part.status_code == 206
    assert part.content == full[3:10]
    assert part.headers["content-range"] == f"bytes 3-9/{len(full)}"
    tail = httpx.get(srv.url(f"/arch/{name}"), headers={"Range": "bytes=-4"})
    assert tail.content == full[-4:]
    beyond = httpx.get(srv.url(f"/arch/{name}"), headers={"Range": f"bytes={len(full) + 5}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(full)}"


@pytest.mark.parametrize(
    "target",
    [
        b"/arch/../evil.txt",
        b"/arch/%2e%2e/evil.txt",
        b"/arch/%2E%2E/evil.txt",
        b"/arch/sub%2fstyle.css",
        b"/arch/sub%5cstyle.css",
        b"/arch/sub//style.css",
        b"/arch/index.txt%00",
        b"/arch/dir",
        b"/arch/dir/",
        b"/arch/sub",
        b"/arch/",
        b"/arch",
        b"/arch/missing.txt",
    ],
)
def test_traversal_directories_and_missing_members_are_404(
    srv: ServerProcess, target: bytes
) -> None:
    assert raw_status(srv, target) == 404


def test_other_methods_are_405(srv: ServerProcess) -> None:
    response = httpx.post(srv.url("/arch/index.txt"), content=b"x")
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]


def test_ports_and_handler_priority(srv: ServerProcess) -> None:
    assert httpx.get(srv.url("/arch/index.txt", "admin")).status_code == 200
    assert httpx.get(srv.url("/arch-main/index.txt")).status_code == 200
    assert httpx.get(srv.url("/arch-main/index.txt", "admin")).status_code == 404
    assert httpx.get(srv.url("/arch/special")).text == "handler beats the archive"


def test_a_replaced_archive_is_served_as_it_is_now(tmp_path: Path) -> None:
    archive = tmp_path / "live.zip"
    write_archive(archive, b"first version\n")
    process = ServerProcess(
        "parity_archive_app.py", tmp_path, env={"HWEBSERVER_TEST_ARCHIVE": str(archive)}
    )
    with process:
        first = httpx.get(process.url("/arch/index.txt"))
        assert first.content == b"first version\n"
        replacement = tmp_path / "next.zip"
        write_archive(replacement, b"second, longer version\n")
        replacement.replace(archive)
        second = wait_for(
            lambda: (
                (r := httpx.get(process.url("/arch/index.txt"))).status_code == 200
                and r.content != first.content
                and r
            )
        )
        assert second.content == b"second, longer version\n"
        assert second.headers["etag"] != first.headers["etag"]


@pytest.mark.parametrize("kind", ["missing", "corrupt", "directory"])
def test_a_missing_or_corrupt_archive_is_an_error_at_registration(
    tmp_path: Path, kind: str
) -> None:
    archive = tmp_path / "site.zip"
    if kind == "corrupt":
        archive.write_bytes(b"PK\x03\x04 this is not really a zip archive" * 10)
    elif kind == "directory":
        archive.mkdir()
    process = ServerProcess(
        "parity_archive_app.py", tmp_path / "run", env={"HWEBSERVER_TEST_ARCHIVE": str(archive)}
    )
    logs = process.start_and_fail()
    assert "ValueError: registerArchiveFile" in logs
    assert str(archive) in logs
    assert not process.read_ports()

"""apiclient takes open binary file objects as call arguments, as Houdini scripts pass them:
sent as file parts, streamed from where the file stands."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import ServerProcess

from hwebserver import apiclient

THRESHOLD = 4096


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[apiclient.Service]:
    process = ServerProcess(
        "api_app.py",
        tmp_path_factory.mktemp("parity-apiclient"),
        {"max_in_memory_file_upload_size": THRESHOLD},
        expect_ports=("main", "admin", "other"),
    )
    with process, apiclient.Service(process.url("/api")) as service:
        yield service


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_open_file_is_sent_as_a_file_part(svc: apiclient.Service, tmp_path: Path) -> None:
    payload = os.urandom(THRESHOLD * 40 + 7)
    path = tmp_path / "scene.bgeo"
    path.write_bytes(payload)
    with open(path, "rb") as file:
        result = svc.describe_file(data=file, label="open")
        assert not file.closed  # the caller's file stays the caller's
    assert result["name"] == "scene.bgeo"
    assert result["size"] == len(payload)
    assert result["sha256"] == sha(payload)
    assert result["label"] == "open"


def test_sent_from_the_current_position(svc: apiclient.Service, tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"header:" + b"the rest")
    with open(path, "rb", buffering=0) as file:
        file.seek(7)
        assert svc.reverse_bytes(data=file) == b"tser eht"


def test_in_memory_binary_file(svc: apiclient.Service) -> None:
    result = svc.describe_file(data=io.BytesIO(b"abc" * 1000))
    assert result["name"] == "data"
    assert result["size"] == 3000
    assert result["sha256"] == sha(b"abc" * 1000)


def test_a_pipe_streams_chunked(svc: apiclient.Service) -> None:
    payload = os.urandom(300_000)
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with open(write_fd, "wb") as writer:
            for start in range(0, len(payload), 65536):
                writer.write(payload[start : start + 65536])

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        with open(read_fd, "rb") as reader:
            result = svc.describe_file(data=reader)
    finally:
        feeder.join(10)
    assert result["size"] == len(payload)
    assert result["sha256"] == sha(payload)


def test_text_files_and_positional_files_are_refused(
    svc: apiclient.Service, tmp_path: Path
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("text")
    with open(path) as text_file, pytest.raises(TypeError, match="binary mode"):
        svc.describe_file(data=text_file)
    with open(path, "rb") as file, pytest.raises(TypeError, match="keyword arguments"):
        svc.describe_file(file)

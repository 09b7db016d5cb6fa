"""Every service in examples/ starts as its docstring says and answers as it claims."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import ROOT, ServerProcess
from websockets.sync.client import connect

from hwebserver import apiclient

EXAMPLES = ROOT / "examples"


@pytest.fixture
def example(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """`python examples/<name>.py` with PORT=0: the port comes from its start-up line."""
    script = EXAMPLES / f"{request.param}.py"
    process = ServerProcess(
        script, tmp_path, command=[sys.executable, str(script)], env={"PORT": "0"}
    )
    with process:
        yield process


@pytest.mark.parametrize("example", ["hello"], indirect=True)
def test_hello(example: ServerProcess) -> None:
    assert httpx.get(example.url("/hello")).text == "Hello, world!"
    assert httpx.get(example.url("/async-hello")).text == "Hello, world!"
    assert httpx.post(example.url("/echo"), content=b"abc").content == b"abc"


@pytest.mark.parametrize("example", ["api_functions"], indirect=True)
def test_api_functions_through_apiclient(example: ServerProcess) -> None:
    service = apiclient.Service(example.url("/api"))
    assert service.geo.vector_length(1, 2, 2) == 3.0
    assert service.jobs.submit(name="shot010", frames=24)["frames"] == 24
    with pytest.raises(apiclient.APIError, match="frames must be at least 1"):
        service.jobs.submit(name="shot010", frames=0)


@pytest.mark.parametrize("example", ["uploads"], indirect=True)
def test_uploads_small_in_memory_large_on_disk(example: ServerProcess) -> None:
    small, large = os.urandom(1000), os.urandom(3 << 20)
    files = {"small": ("a.bin", small), "scene": ("big.bgeo", large)}
    answer = httpx.post(example.url("/upload"), files=files, data={"note": "hi"}, timeout=30)
    received = answer.json()
    assert received["fields"] == {"note": "hi"}
    assert received["files"]["small"]["sha256"] == hashlib.sha256(small).hexdigest()
    assert received["files"]["small"]["in_memory"] is True
    assert received["files"]["scene"]["sha256"] == hashlib.sha256(large).hexdigest()
    assert received["files"]["scene"]["in_memory"] is False


@pytest.mark.parametrize("example", ["websocket_progress"], indirect=True)
def test_websocket_progress_feed(example: ServerProcess) -> None:
    with connect(f"ws://127.0.0.1:{example.port}/progress", open_timeout=10) as ws:
        ws.send("render 3")
        messages = [json.loads(ws.recv(timeout=10)) for _ in range(4)]
    assert messages == [
        {"frame": 1, "of": 3},
        {"frame": 2, "of": 3},
        {"frame": 3, "of": 3},
        {"done": True},
    ]


@pytest.mark.parametrize("example", ["static_site"], indirect=True)
def test_static_site(example: ServerProcess) -> None:
    page = httpx.get(example.url("/index.html"))
    assert page.status_code == 200 and "Served by hwebserver" in page.text
    etag = page.headers["etag"]
    assert httpx.get(example.url("/index.html"), headers={"If-None-Match": etag}).status_code == 304
    part = httpx.get(example.url("/index.html"), headers={"Range": "bytes=0-8"})
    assert part.status_code == 206 and part.content == b"<!DOCTYPE"
    assert httpx.get(example.url("/health")).text == "ok"


@pytest.mark.parametrize("example", ["flask_mount"], indirect=True)
def test_flask_mount(example: ServerProcess) -> None:
    assert "this page is /tools/" in httpx.get(example.url("/tools/")).text
    assert httpx.get(example.url("/tools/health")).text == "ok"


@pytest.mark.parametrize("example", ["fastapi_mount"], indirect=True)
def test_fastapi_mount(example: ServerProcess) -> None:
    assert httpx.get(example.url("/api2/items/3")).json() == {"item": 3, "lifespan_ran": True}

"""Every service in examples/ starts as its docstring says and answers as it claims: run as
`python examples/<name>.py` through the hwebserver_service fixture, and, for the API functions
and the WebSocket feed, in-process through TestClient, as a user's own tests would."""

from __future__ import annotations

import hashlib
import json
import os
import runpy
from collections.abc import Callable, Iterator

import httpx
import pytest
from support import ROOT
from websockets.sync.client import connect

import hwebserver
from hwebserver import apiclient
from hwebserver.testing import Service, TestClient, isolated_registry

EXAMPLES = ROOT / "examples"


class Example:
    """A running example: `url(path)` on its main port."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.port = service.port

    def url(self, path: str = "/") -> str:
        return self.service.url + path


@pytest.fixture
def example(hwebserver_service: Callable[..., Service], request: pytest.FixtureRequest) -> Example:
    """`python examples/<name>.py` with PORT=0: the port comes from its start-up line."""
    script = EXAMPLES / f"{request.param}.py"
    return Example(hwebserver_service(script, as_script=True, env={"PORT": "0"}))


@pytest.fixture
def served_example(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """The example's handlers, registered afresh and served in this process by TestClient;
    gone again after the test."""
    with isolated_registry():
        runpy.run_path(str(EXAMPLES / f"{request.param}.py"), run_name="example")
        with TestClient() as client:
            yield client


@pytest.mark.parametrize("example", ["hello"], indirect=True)
def test_hello(example: Example) -> None:
    assert httpx.get(example.url("/hello")).text == "Hello, world!"
    assert httpx.get(example.url("/async-hello")).text == "Hello, world!"
    assert httpx.post(example.url("/echo"), content=b"abc").content == b"abc"


@pytest.mark.parametrize("example", ["api_functions"], indirect=True)
def test_api_functions_through_apiclient(example: Example) -> None:
    service = apiclient.Service(example.url("/api"))
    assert service.geo.vector_length(1, 2, 2) == 3.0
    assert service.jobs.submit(name="shot010", frames=24)["frames"] == 24
    with pytest.raises(apiclient.APIError, match="frames must be at least 1"):
        service.jobs.submit(name="shot010", frames=0)


@pytest.mark.parametrize("example", ["uploads"], indirect=True)
def test_uploads_small_in_memory_large_on_disk(example: Example) -> None:
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
def test_websocket_progress_feed(example: Example) -> None:
    with connect(f"ws://127.0.0.1:{example.port}/progress", open_timeout=10) as ws:
        ws.send("render 3")
        messages = [json.loads(ws.recv(timeout=10)) for _ in range(4)]
    assert messages == [
        {"frame": 1, "of": 3},
        {"frame": 2, "of": 3},
        {"frame": 3, "of": 3},
        {"done": True},
    ]


@pytest.mark.parametrize("example", ["api_functions"], indirect=True)
def test_api_functions_houdini_form_style_call(example: Example) -> None:
    """`curl -d cmd_function=jobs.submit -d name=shot010 -d frames=3 .../api`: form fields are
    text, and the example converts `frames` (it answered 500, comparing a str with 1)."""
    fields = {"cmd_function": "jobs.submit", "name": "shot010", "frames": "3"}
    answer = httpx.post(example.url("/api"), data=fields)
    assert answer.status_code == 200, answer.text
    assert answer.json()["job"] == "shot010" and answer.json()["frames"] == 3
    refused = httpx.post(example.url("/api"), data={**fields, "frames": "three"})
    assert refused.status_code == 400 and "frames" in refused.json()["error"]


@pytest.mark.parametrize("example", ["websocket_progress"], indirect=True)
def test_websocket_progress_tells_the_client_about_a_bad_argument(example: Example) -> None:
    """`render abc` gets an error message on the open connection (it closed with 1011), and
    the same connection still renders."""
    with connect(f"ws://127.0.0.1:{example.port}/progress", open_timeout=10) as ws:
        ws.send("render abc")
        assert "render N" in json.loads(ws.recv(timeout=10))["error"]
        ws.send("render 1")
        assert [json.loads(ws.recv(timeout=10)) for _ in range(2)] == [
            {"frame": 1, "of": 1},
            {"done": True},
        ]


@pytest.mark.parametrize("example", ["static_site"], indirect=True)
def test_static_site(example: Example) -> None:
    page = httpx.get(example.url("/index.html"))
    assert page.status_code == 200 and "Served by hwebserver" in page.text
    etag = page.headers["etag"]
    assert httpx.get(example.url("/index.html"), headers={"If-None-Match": etag}).status_code == 304
    part = httpx.get(example.url("/index.html"), headers={"Range": "bytes=0-8"})
    assert part.status_code == 206 and part.content == b"<!DOCTYPE"
    assert httpx.get(example.url("/health")).text == "ok"


@pytest.mark.parametrize("example", ["flask_mount"], indirect=True)
def test_flask_mount(example: Example) -> None:
    assert "this page is /tools/" in httpx.get(example.url("/tools/")).text
    assert httpx.get(example.url("/tools/health")).text == "ok"


@pytest.mark.parametrize("example", ["fastapi_mount"], indirect=True)
def test_fastapi_mount(example: Example) -> None:
    assert httpx.get(example.url("/api2/items/3")).json() == {"item": 3, "lifespan_ran": True}


@pytest.mark.parametrize("served_example", ["api_functions"], indirect=True)
def test_api_functions_in_process(served_example: TestClient) -> None:
    assert served_example.api("geo.vector_length", 1, 2, 2) == 3.0
    assert served_example.api("jobs.submit", name="shot010", frames=24)["worker"] == os.getpid()
    with pytest.raises(hwebserver.APIError) as refused:
        served_example.api("jobs.submit", name="shot010", frames=0)
    assert (refused.value.status, refused.value.message) == (422, "frames must be at least 1")


@pytest.mark.parametrize("served_example", ["websocket_progress"], indirect=True)
def test_websocket_progress_in_process(served_example: TestClient) -> None:
    with served_example.websocket_connect("/progress") as ws:
        ws.send_text("render 2")
        frames = [ws.receive_json() for _ in range(3)]
        ws.send_text("what")
        assert ws.receive_json() == {"error": "say: render N"}
    assert frames == [{"frame": 1, "of": 2}, {"frame": 2, "of": 2}, {"done": True}]


@pytest.mark.parametrize("served_example", ["hello"], indirect=True)
def test_hello_in_process_sees_this_process(served_example: TestClient) -> None:
    status = served_example.get("/status", params={"q": "1"}).json()
    assert status == {"pid": os.getpid(), "path": "/status", "query": {"q": "1"}}

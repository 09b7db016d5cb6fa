"""The service's tests, written from docs/testing.md alone."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import service  # registers its handlers

import hwebserver
from hwebserver.testing import TestClient, isolated_registry

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def no_jobs() -> Iterator[None]:
    service.JOBS.clear()
    yield
    service.JOBS.clear()


def test_hello() -> None:
    with TestClient() as client:
        response = client.get("/hello", params={"name": "you"})
        assert response.status_code == 200
        assert response.text == "Hello, you"
        assert client.get("/missing").status_code == 404


def test_hello_with_the_fixture(hwebserver_client: TestClient) -> None:
    assert hwebserver_client.get("/hello").text == "Hello, world"


def test_the_fixture_serves_what_this_test_registers(hwebserver_client: TestClient) -> None:
    @hwebserver.urlHandler("/scratch")
    def scratch(request: hwebserver.Request) -> str:
        return "only in this test"

    assert hwebserver_client.get("/scratch").text == "only in this test"


def test_the_next_test_does_not_see_it(hwebserver_client: TestClient) -> None:
    # pytest runs a file's tests in order: the test above registered /scratch.
    assert hwebserver_client.get("/scratch").status_code == 404
    assert hwebserver_client.get("/hello").status_code == 200  # the module's are kept


def test_api_function_through_api() -> None:
    with TestClient() as client:
        assert client.api("jobs.submit", name="shot010", frames=3)["state"] == "queued"
        assert client.get("/jobs").text == "shot010"  # the handler sees the same JOBS
        assert client.api("jobs.attach", name="shot010", scene=b"x" * 2048) == 2048


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"name": "shot010", "frames": 0}, 422, "frames must be at least 1"),
        ({"frames": 2}, 400, "name"),
    ],
)
def test_api_errors(kwargs: dict[str, object], status: int, message: str) -> None:
    with TestClient() as client, pytest.raises(hwebserver.APIError) as error:
        client.api("jobs.submit", **kwargs)
    assert error.value.status == status
    assert message in str(error.value.message)


def test_api_error_status_of_the_function() -> None:
    with TestClient() as client:
        client.api("jobs.submit", name="shot010")
        with pytest.raises(hwebserver.APIError) as error:
            client.api("jobs.submit", name="shot010")
        assert (error.value.status, error.value.message) == (409, "job shot010 exists")
        with pytest.raises(hwebserver.APIError) as unknown:
            client.api("jobs.nothing")
        assert unknown.value.status == 404


def test_api_wire_formats() -> None:
    with TestClient() as client:
        form = client.post("/api", data={"cmd_function": "jobs.submit", "name": "a", "frames": "2"})
        assert form.json()["frames"] == 2
        body = client.post("/api", json=["jobs.submit", ["b"], {"frames": 4}])
        assert body.json()["frames"] == 4
        unknown = client.post("/api", json=["jobs.nothing", [], {}])
        assert unknown.status_code == 404 and "error" in unknown.json()
        refused = client.post(
            "/api", data={"cmd_function": "jobs.submit", "name": "c", "frames": "0"}
        )
        assert refused.status_code == 422
        assert refused.json() == {"error": "frames must be at least 1"}


def test_feed() -> None:
    with TestClient() as client, client.websocket_connect("/feed") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "echo:hi"
        ws.send_bytes(b"\x00\x01")
        assert ws.receive_bytes() == b"\x00\x01"


def test_a_fake_upstream() -> None:
    with isolated_registry():

        @hwebserver.urlHandler("/upstream/status")
        def status(request: hwebserver.Request) -> str:
            return "busy"

        with TestClient() as client:
            assert client.get("/upstream/status").text == "busy"
    with TestClient() as client:
        assert client.get("/upstream/status").status_code == 404


def test_reload_serves_the_new_code(hwebserver_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "service.py"
    shutil.copy(HERE / "service.py", script)
    running = hwebserver_service(script, "--workers", "2")
    assert httpx.get(running.url + "/hello").text == "Hello, world"
    assert httpx.post(running.url + "/api", json=["jobs.submit", ["a"], {}]).json()["name"] == "a"
    before = running.workers()
    assert len(before) == 2

    script.write_text(script.read_text().replace('GREETING = "Hello, "', 'GREETING = "Howdy, "'))
    running.reload()

    assert httpx.get(running.url + "/hello").text == "Howdy, world"
    assert running.workers().isdisjoint(before)
    assert "reloaded" in running.log
    assert running.stop() == 0

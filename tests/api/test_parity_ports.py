"""Ports as Houdini's docs write them: 0, "0" and "main" name the main port; -1 and "-1"
every port; a port name no run() declares is an error at run() naming the handler."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support import ServerProcess
from websockets.sync.client import connect

PORTS = {"ports": ["admin"]}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        "parity_ports_app.py",
        tmp_path_factory.mktemp("parity-ports"),
        PORTS,
        expect_ports=("main", "admin"),
    )
    with process:
        yield process


@pytest.mark.parametrize("path", ["/zero-int", "/zero-str", "/main-name", "/class-zero"])
def test_zero_and_main_name_the_main_port(srv: ServerProcess, path: str) -> None:
    response = httpx.get(srv.url(path))
    assert response.status_code == 200
    assert response.text == f"{path} on {srv.port}"
    assert httpx.get(srv.url(path, "admin")).status_code == 404


@pytest.mark.parametrize("path", ["/every-int", "/every-str"])
def test_minus_one_means_every_port(srv: ServerProcess, path: str) -> None:
    for name in ("main", "admin"):
        response = httpx.get(srv.url(path, name))
        assert response.status_code == 200
        assert response.text == f"{path} on {srv.ports[name]}"


def test_a_named_port_still_serves_only_there(srv: ServerProcess) -> None:
    assert httpx.get(srv.url("/admin-only", "admin")).status_code == 200
    assert httpx.get(srv.url("/admin-only")).status_code == 404


def test_api_function_ports_zero_and_minus_one(srv: ServerProcess) -> None:
    assert httpx.post(srv.url("/api"), json=["on_main", [], {}]).json() == "api on main"
    refused = httpx.post(srv.url("/api", "admin"), json=["on_main", [], {}])
    assert refused.status_code == 404
    for name in ("main", "admin"):
        answer = httpx.post(srv.url("/api", name), json=["on_every_port", [], {}])
        assert answer.json() == "api on every port"


def test_websocket_on_port_zero(srv: ServerProcess) -> None:
    with connect(f"ws://127.0.0.1:{srv.port}/ws-zero", open_timeout=10) as ws:
        ws.send("ping")
        assert ws.recv(timeout=10) == "ping"


def test_mount_and_static_directories_with_numeric_ports(srv: ServerProcess) -> None:
    for name in ("main", "admin"):
        assert httpx.get(srv.url("/wsgi/x", name)).text == "wsgi everywhere"
        assert httpx.get(srv.url("/static-every/file.txt", name)).text == "static file\n"
    assert httpx.get(srv.url("/static-main/file.txt")).text == "static file\n"
    assert httpx.get(srv.url("/static-main/file.txt", "admin")).status_code == 404


def test_an_undeclared_port_name_is_an_error_at_run_naming_the_handler(tmp_path) -> None:
    process = ServerProcess(
        "parity_ports_app.py",
        tmp_path,
        PORTS,
        env={"HWEBSERVER_TEST_UNDECLARED_PORT": "adminn"},
    )
    logs = process.start_and_fail()
    assert "ValueError" in logs
    assert "'adminn'" in logs
    assert "/lost" in logs and "where" in logs
    assert not process.read_ports()  # nothing was announced as served

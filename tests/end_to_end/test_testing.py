"""hwebserver.testing from a user's side: each promise of TestClient and isolated_registry()
checked through the server it starts (real sockets, httpx, the websockets client)."""

from __future__ import annotations

import importlib
import pkgutil
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from supervision import bindable
from websockets.exceptions import ConnectionClosed, InvalidStatus

import hwebserver
from hwebserver.api.internal.registries import every_registry
from hwebserver.testing import TestClient, isolated_registry
from hwebserver.worker.process import current


@pytest.fixture(autouse=True)
def isolated() -> Iterator[None]:
    """What a test here registers stays out of the other tests of this process."""
    with isolated_registry():
        yield


# -- HTTP --------------------------------------------------------------------------------------
def test_each_verb_reaches_the_handler_on_a_handler_thread() -> None:
    threads: list[str] = []

    @hwebserver.urlHandler("/echo")
    def echo(request: hwebserver.Request) -> hwebserver.Response:
        threads.append(threading.current_thread().name)
        text = f"{request.method()} {request.GET()} {request.body().decode()}"
        return hwebserver.Response(text, content_type="text/plain")

    with TestClient() as client:
        answer = client.get("/echo", params={"a": "1"})
        assert isinstance(answer, httpx.Response)
        assert (answer.status_code, answer.text) == (200, "GET {'a': '1'} ")
        assert client.post("/echo", content=b"x").text == "POST {} x"
        assert client.put("/echo", content=b"y").text == "PUT {} y"
        assert client.patch("/echo", content=b"z").text == "PATCH {} z"
        assert client.delete("/echo").text == "DELETE {} "
        assert client.options("/echo").text == "OPTIONS {} "
        assert client.request("REPORT", "/echo").text == "REPORT {} "
        head = client.head("/echo")
        assert head.status_code == 200 and head.content == b""
        with client.stream("GET", "/echo") as streamed:
            assert b"".join(streamed.iter_bytes()) == b"GET {} "
        assert client.get("/nothing-here").status_code == 404
        assert httpx.get(client.url("/echo"), trust_env=False).text == "GET {} "
    # Plain handlers run on the server's handler threads, never the test's own thread.
    assert threading.current_thread().name not in threads


def test_run_options_settings_and_extra_ports_reach_the_server() -> None:
    @hwebserver.urlHandler("/lab-only", ports=["lab"])
    def lab_only(request: hwebserver.Request) -> str:
        return f"lab on {request.port()}"

    @hwebserver.urlHandler("/upload", methods=["POST"])
    def upload(request: hwebserver.Request) -> str:
        return str(len(request.body()))

    settings = {"CORS_ORIGIN_WHITELIST": ["https://tools.example"]}
    with TestClient(settings=settings, ports=["lab"], max_request_size=10_000) as client:
        lab = client.get(client.url("/lab-only", port="lab"))
        assert lab.text == f"lab on {httpx.URL(client.url(port='lab')).port}"
        assert client.get("/lab-only").status_code == 404  # not on the main port
        assert client.post("/upload", content=b"a" * 100).text == "100"
        assert client.post("/upload", content=b"a" * 20_000).status_code == 413
        cors = client.get("/upload", headers={"Origin": "https://tools.example"})
        assert cors.headers.get("access-control-allow-origin") == "https://tools.example"
        with pytest.raises(KeyError, match="no port named 'nope'"):
            client.url("/", port="nope")


def test_a_tls_main_port_is_reached_over_https_and_wss(tmp_path: Path) -> None:
    from certificates import make_certificate

    cert, key = make_certificate(tmp_path)
    register_websockets()

    @hwebserver.urlHandler("/secure")
    def secure(request: hwebserver.Request) -> str:
        return f"secure={request.isSecure()}"

    settings = {"SSL_CERTIFICATE": str(cert), "SSL_CERTIFICATE_KEY": str(key)}
    with TestClient(settings=settings) as client:
        assert client.url("/secure").startswith("https://127.0.0.1:")
        assert client.get("/secure").text == "secure=True"
        with client.websocket_connect("/ws/echo") as ws:
            ws.send_text("over tls")
            assert ws.receive_text() == "echo:over tls"


def test_reserved_run_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="in_background"):
        TestClient(in_background=False)


# -- API functions -----------------------------------------------------------------------------
def register_api_functions() -> None:
    @hwebserver.apiFunction(namespace="jobs")
    def submit(request: hwebserver.Request, name: str, frames: int = 1) -> dict[str, Any]:
        if frames < 1:
            raise hwebserver.APIError("frames must be at least 1")
        return {"name": name, "frames": frames, "state": "queued"}

    @hwebserver.apiFunction(namespace="jobs")
    def cancel(request: hwebserver.Request, job: str) -> None:
        raise hwebserver.APIError(f"job {job} already finished", 409)

    @hwebserver.apiFunction()
    def add(request: hwebserver.Request, a: int, b: int) -> int:
        return a + b

    @hwebserver.apiFunction()
    def checksum(request: hwebserver.Request, scene: hwebserver.UploadedFile) -> str:
        return hwebserver.Response(f"{scene.size()} bytes", content_type="text/plain")

    @hwebserver.apiFunction(return_binary=True)
    def raw(request: hwebserver.Request) -> bytes:
        return b"\x00\x01"

    @hwebserver.apiFunction()
    def broken(request: hwebserver.Request) -> None:
        raise RuntimeError("a bug")


def test_api_returns_the_decoded_result() -> None:
    register_api_functions()
    with TestClient() as client:
        answer = client.api("jobs.submit", name="shot010", frames=3)
        assert answer == {"name": "shot010", "frames": 3, "state": "queued"}
        assert client.api("add", 2, 3) == 5
        assert client.api("checksum", scene=b"x" * 1000) == "1000 bytes"
        assert client.api("raw") == b"\x00\x01"


@pytest.mark.parametrize(
    ("call", "status", "message"),
    [
        (("jobs.submit", {"name": "a", "frames": 0}), 422, "frames must be at least 1"),
        (("jobs.cancel", {"job": "j1"}), 409, "job j1 already finished"),
        (("no.such.function", {}), 404, "no.such.function"),
        (("add", {"a": 1}), 400, "b"),
        (("broken", {}), 500, ""),
    ],
    ids=["APIError", "APIError with a status", "unknown", "unbound arguments", "exception"],
)
def test_api_errors_raise_apierror_with_the_servers_status_and_message(
    call: tuple[str, dict[str, Any]], status: int, message: str
) -> None:
    register_api_functions()
    name, kwargs = call
    with TestClient() as client, pytest.raises(hwebserver.APIError) as raised:
        client.api(name, **kwargs)
    assert raised.value.status == status
    assert message in str(raised.value.message)
    if status == 500:
        assert "a bug" not in str(raised.value.message)  # no traceback without debug


# -- WebSockets --------------------------------------------------------------------------------
def register_websockets() -> None:
    @hwebserver.webSocket("/ws/echo")
    class Echo(hwebserver.WebSocket):
        async def connect(self, request: hwebserver.Request) -> None:
            protocols = request.headers().get("Sec-WebSocket-Protocol", "")
            await self.accept("jobs.v1" if "jobs.v1" in protocols else None)

        async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
            if text_data == "bye":
                await self.close(4001, "asked to")
            elif text_data is not None:
                await self.send("echo:" + text_data)
            else:
                await self.send((bytes_data or b"")[::-1])

    @hwebserver.webSocket("/ws/closed")
    class Refuses(hwebserver.WebSocket):
        async def connect(self, request: hwebserver.Request) -> None:
            return None  # not accepted: 403


def test_websocket_text_bytes_json_and_close() -> None:
    register_websockets()
    with TestClient() as client:
        with client.websocket_connect("/ws/echo", subprotocols=["jobs.v1"]) as ws:
            assert ws.subprotocol == "jobs.v1"
            ws.send_text("hi")
            assert ws.receive_text() == "echo:hi"
            ws.send_bytes(b"abc")
            assert ws.receive_bytes() == b"cba"
            ws.send_json({"a": 1})
            assert ws.receive_text() == 'echo:{"a": 1}'
            ws.send_bytes(b"xy")
            with pytest.raises(AssertionError, match="binary message came where text"):
                ws.receive_text()
            ws.send_text("bye")
            with pytest.raises(ConnectionClosed):
                ws.receive()
            assert (ws.close_code, ws.close_reason) == (4001, "asked to")
        with pytest.raises(InvalidStatus) as refused:
            client.websocket_connect("/ws/closed")
        assert refused.value.response.status_code == 403


def test_websocket_left_open_is_closed_with_the_client() -> None:
    register_websockets()
    with TestClient() as client:
        ws = client.websocket_connect("/ws/echo")
        ws.send_text("still here")
        assert ws.receive_text() == "echo:still here"
    assert ws.close_code == 1000


# -- serving only inside the with ----------------------------------------------------------------
def test_leaving_stops_serving_and_frees_the_port_and_a_second_client_works() -> None:
    @hwebserver.urlHandler("/ping")
    def ping(request: hwebserver.Request) -> str:
        return "pong"

    with TestClient() as first:
        port = first.port
        assert first.get("/ping").text == "pong"
    assert current.get() is None
    assert bindable(port)  # as a restarted server binds it
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/ping", trust_env=False)
    with pytest.raises(RuntimeError, match="with"):
        first.get("/ping")

    with pytest.raises(ZeroDivisionError), TestClient() as second:
        assert second.get("/ping").text == "pong"
        second_port = second.port
        1 / 0  # noqa: B018  (a failing test body)
    assert current.get() is None and bindable(second_port)


def test_a_client_while_a_server_runs_in_this_process_says_so() -> None:
    with TestClient(), pytest.raises(hwebserver.OperationFailed, match="already running"):
        TestClient().__enter__()


# -- isolated_registry() -------------------------------------------------------------------------
# Every public name of hwebserver either registers something or does not; a new name must be
# put in one of the two, so that isolated_registry() is checked against it.
REGISTERING = {
    "urlHandler",
    "URLHandler",
    "AsyncURLHandler",
    "apiFunction",
    "webSocket",
    "registerWSGIApp",
    "registerASGIApp",
    "registerOpdefPath",
    "registerStaticFilesDirectory",
    "registerArchiveFile",
    "setSettingsForPort",
    "onWorkerStart",
    "onWorkerStop",
}
NOT_REGISTERING = {
    "APIError",
    "AbortSeverity",
    "FatalSeverity",
    "MessageSeverity",
    "OperationFailed",
    "PromptSeverity",
    "Request",
    "Response",
    "UploadedFile",
    "WarningSeverity",
    "WebServerRequest",
    "WebServerResponse",
    "WebServerUploadedFile",
    "WebSocket",
    "apiclient",
    "errorResponse",
    "fileResponse",
    "isInDebugMode",
    "notFoundResponse",
    "redirect",
    "requestShutdown",
    "run",
    "webServerSeverity",
    "webServerVerbosity",
}


def test_every_public_name_is_known_to_register_or_not() -> None:
    assert set(hwebserver.__all__) == REGISTERING | NOT_REGISTERING


def test_every_registry_object_of_the_package_is_isolated() -> None:
    """A module-level object of ours that can be filled or emptied is a registry."""
    isolated = {id(registry) for registry in every_registry().values()}
    found = {}
    for info in pkgutil.walk_packages(hwebserver.__path__, "hwebserver."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            kind = type(value)
            # (A compiled module's own helper objects name no module: not registries.)
            owner = kind.__module__
            if isinstance(value, type) or not isinstance(owner, str):
                continue
            if not owner.startswith("hwebserver"):
                continue
            if any(callable(getattr(value, m, None)) for m in ("add", "update", "clear")):
                found[f"{kind.__module__}.{name}"] = id(value)
    assert found, "no registry found: the search is broken"
    missing = sorted(name for name, ident in found.items() if ident not in isolated)
    assert not missing, f"registries isolated_registry() does not restore: {missing}"


def registrations(tmp_path: Path) -> dict[str, Callable[[TestClient], bool]]:
    """Each public registration made once; each returns a probe: is it served?"""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "a.txt").write_text("static")
    with zipfile.ZipFile(tmp_path / "site.zip", "w") as archive:
        archive.writestr("b.txt", "zipped")

    def served(path: str) -> Callable[[TestClient], bool]:
        return lambda client: client.get(path).status_code == 200

    def handler(request: hwebserver.Request) -> str:
        return "ok"

    class Plain(hwebserver.URLHandler):
        def handle(self, request: hwebserver.Request) -> str:
            return "ok"

    class Later(hwebserver.AsyncURLHandler):
        async def handle(self, request: hwebserver.Request) -> None:
            request.send(hwebserver.Response("ok"))

    class Socket(hwebserver.WebSocket):
        async def connect(self, request: hwebserver.Request) -> None:
            await self.accept()

    def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    def websocket_served(client: TestClient) -> bool:
        try:
            client.websocket_connect("/iso/socket").close()
        except InvalidStatus:
            return False
        return True

    def api_served(client: TestClient) -> bool:
        try:
            return bool(client.api("iso_function") == "ok")
        except hwebserver.APIError:
            return False

    def port_settings_set(client: TestClient) -> bool:
        return "iso" in every_registry()["port_settings"].snapshot()

    started: list[int] = []

    def start_hook() -> None:
        started.append(1)

    def stop_hook() -> None: ...

    def start_hook_ran(client: TestClient) -> bool:
        """Since the last probe: the client's server started with it."""
        ran = bool(started)
        started.clear()
        return ran

    def stop_hook_registered(client: TestClient) -> bool:
        return stop_hook in every_registry()["worker_hooks"].snapshot()[1]

    hwebserver.onWorkerStart(start_hook)
    hwebserver.onWorkerStop(stop_hook)
    hwebserver.urlHandler("/iso/handler")(handler)
    Plain("/iso/plain")
    Later("/iso/later")
    hwebserver.apiFunction()(iso_function)
    hwebserver.webSocket("/iso/socket")(Socket)
    hwebserver.registerWSGIApp(wsgi, "/iso/wsgi")
    hwebserver.registerASGIApp(asgi, "/iso/asgi")
    hwebserver.registerOpdefPath("/iso/opdef", resolver=lambda node, section: b"icon")
    hwebserver.registerStaticFilesDirectory(tmp_path / "site", "/iso/static")
    hwebserver.registerArchiveFile(tmp_path / "site.zip", "/iso/zip")
    hwebserver.setSettingsForPort({"ALLOWED_HOSTS": ["iso.example"]}, "iso")
    return {
        "urlHandler": served("/iso/handler"),
        "URLHandler": served("/iso/plain"),
        "AsyncURLHandler": served("/iso/later"),
        "apiFunction": api_served,
        "webSocket": websocket_served,
        "registerWSGIApp": served("/iso/wsgi/x"),
        "registerASGIApp": served("/iso/asgi/x"),
        "registerOpdefPath": served("/iso/opdef/Sop/box?IconImage.png"),
        "registerStaticFilesDirectory": served("/iso/static/a.txt"),
        "registerArchiveFile": served("/iso/zip/b.txt"),
        "setSettingsForPort": port_settings_set,
        "onWorkerStart": start_hook_ran,
        "onWorkerStop": stop_hook_registered,
    }


def iso_function(request: hwebserver.Request) -> str:
    return "ok"


def test_isolated_registry_undoes_every_kind_of_registration(tmp_path: Path) -> None:
    before = {name: registry.snapshot() for name, registry in every_registry().items()}
    with isolated_registry():
        probes = registrations(tmp_path)
        assert set(probes) == REGISTERING
        with TestClient() as client:
            registered = {name for name, probe in probes.items() if probe(client)}
        assert registered == REGISTERING
    with TestClient() as client:
        left = {name for name, probe in probes.items() if probe(client)}
    assert not left, f"still registered after isolated_registry(): {sorted(left)}"
    assert {name: registry.snapshot() for name, registry in every_registry().items()} == before


def test_isolated_registry_keeps_what_was_there_before() -> None:
    @hwebserver.urlHandler("/kept")
    def kept(request: hwebserver.Request) -> str:
        return "before"

    with isolated_registry():

        @hwebserver.urlHandler("/kept")
        def replaced(request: hwebserver.Request) -> str:
            return "inside"

        with TestClient() as client:
            assert client.get("/kept").text == "inside"
    with TestClient() as client:
        assert client.get("/kept").text == "before"


# -- packaging -----------------------------------------------------------------------------------
def test_without_httpx_the_import_error_says_what_to_install() -> None:
    code = "import sys; sys.modules['httpx'] = None; import hwebserver.testing"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "pip install 'hwebserver[test]'" in result.stderr


def test_the_pytest_plugin_imports_nothing_of_the_server() -> None:
    code = (
        "import sys, pytest_hwebserver; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('hwebserver', 'httpx', 'psutil', 'websockets', 'uvloop')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_free_port_is_free() -> None:
    from hwebserver.testing import free_port

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))

"""ASGI mounts (ASGI 3): Starlette, FastAPI and a raw app, HTTP, WebSocket and lifespan."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket

import httpx
import psutil
import pytest
from support import (
    APPS,
    ServerProcess,
    can_connect,
    raw_exchange,
    read_all,
    read_response,
    wait_for,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    process = ServerProcess(
        "asgi_apps.py", tmp_path_factory.mktemp("asgi"), expect_ports=("main", "other")
    )
    try:
        process.start()
        yield process
    finally:
        process.stop()


def ws_url(srv, path: str) -> str:
    return f"ws://127.0.0.1:{srv.port}{path}"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


# -- Starlette ------------------------------------------------------------------------------------
def test_starlette_json_with_root_path_and_lifespan_state(srv):
    data = httpx.get(srv.url("/star/json?a=1")).json()
    assert data == {
        "path": "/star/json",
        "root_path": "/star",
        "url_for": f"http://127.0.0.1:{srv.port}/star/json",
        "greeting": "hello from lifespan",
        "query": {"a": "1"},
    }


def test_starlette_streamed_response(srv):
    with httpx.stream("GET", srv.url("/star/stream?n=50")) as response:
        assert response.headers["transfer-encoding"] == "chunked"
        text = "".join(response.iter_text())
    assert text == "".join(f"row{i}\n" for i in range(50))


def test_starlette_websocket(srv):
    async def talk():
        async with connect(ws_url(srv, "/star/ws")) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hello from lifespan: hi"
            await ws.send(b"abc")
            assert await ws.recv() == b"cba"
            await ws.send("x" * 200_000)  # compressed, and larger than one read
            assert len(await ws.recv()) == len("hello from lifespan: ") + 200_000
            await ws.send("close")
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            return closed.value.rcvd.code

    assert run(talk()) == 4001


def test_websocket_closed_before_accept_is_refused_with_403(srv):
    async def talk():
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(srv, "/star/refuse")):
                pass
        return refused.value.response.status_code

    assert run(talk()) == 403


def test_a_url_handler_inside_a_mount_wins(srv):
    assert httpx.get(srv.url("/star/handler")).text == "a urlHandler inside the Starlette mount"


def test_the_same_app_mounted_at_the_root_of_another_port(srv):
    data = httpx.get(srv.url("/json", port_name="other")).json()
    assert data["root_path"] == ""
    assert data["greeting"] == "hello from lifespan"
    assert httpx.get(srv.url("/star/json", port_name="other")).status_code == 404


# -- FastAPI ----------------------------------------------------------------------------------------
def test_fastapi_json_post_and_path_parameters(srv):
    response = httpx.post(srv.url("/fast/items"), json={"name": "box", "price": 2.5})
    assert response.json() == {"name": "box", "total": 5.0, "model": "tiny-model"}
    item = httpx.get(srv.url("/fast/items/7")).json()
    assert item == {"item_id": 7, "url": f"http://127.0.0.1:{srv.port}/fast/items/7"}
    assert httpx.post(srv.url("/fast/items"), json={"name": "x"}).status_code == 422


def test_fastapi_streamed_response(srv):
    response = httpx.get(srv.url("/fast/stream"))
    assert response.text == "chunk0;chunk1;chunk2;chunk3;"
    assert response.headers["transfer-encoding"] == "chunked"


def test_fastapi_websocket_with_lifespan_state(srv):
    async def talk():
        async with connect(ws_url(srv, "/fast/ws"), compression=None) as ws:
            await ws.send(json.dumps({"n": 1}))
            return json.loads(await ws.recv())

    assert run(talk()) == {"echo": {"n": 1}, "model": "tiny-model"}


# -- ASGI details with a raw app ----------------------------------------------------------------------
def test_scope_paths_follow_the_asgi_spec(srv):
    data = httpx.get(srv.url("/raw/x%20y?z=1")).json()
    assert data["root_path"] == "/raw"
    assert data["path"] == "/raw/x y"  # the full path; the app routes on what follows root_path
    assert data["raw_path"] == "/raw/x%20y"
    assert data["query_string"] == "z=1"


@pytest.mark.parametrize(
    ("target", "raw_path", "query"),
    [
        ("/raw/plain", "/raw/plain", ""),
        ("/raw/plain?", "/raw/plain", ""),
        ("/raw/plain?z=1", "/raw/plain", "z=1"),
        ("/raw/a%2Fb?q", "/raw/a%2Fb", "q"),
        ("/raw/./x//y?q", "/raw/x/y", "q"),
    ],
)
def test_raw_path_is_the_target_less_its_query(srv, target, raw_path, query):
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, _, body = read_response(sock)
    assert status == 200
    data = json.loads(body)
    assert (data["raw_path"], data["query_string"]) == (raw_path, query)


def test_request_body_streams_in_several_messages(srv):
    body = os.urandom(3 * 1024 * 1024)
    data = httpx.post(srv.url("/raw/chunks"), content=body, timeout=60).json()
    assert data["total"] == len(body)
    assert data["messages"] > 1  # more_body=True messages as the body arrived


def test_starlette_reads_a_streamed_chunked_body(srv):
    def body():
        for _ in range(8):
            yield b"y" * 100_000

    assert httpx.post(srv.url("/star/body"), content=body()).text == "800000"


def test_a_failing_app_gets_500_and_a_log_line(srv):
    response = httpx.get(srv.url("/fails/x", port_name="other"))
    assert response.status_code == 500
    assert "on purpose" not in response.text
    wait_for(lambda: "asgi app failed on purpose" in srv.logs())


# -- an answer in one message: framed at once (Framing.whole) -------------------------------------
def framed(srv, *cases: str) -> list[tuple[int, dict[str, str], bytes]]:
    """Each case asked for twice on one kept-alive connection: the second answer comes from
    the memoised header block, and must be framed as the first."""
    answers = []
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        for case in cases:
            for _ in range(2):
                sock.sendall(f"GET /framed?{case} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                answers.append(read_response(sock))
    return answers


def test_a_body_longer_than_its_content_length_is_cut_at_the_length(srv):
    answers = framed(srv, "long", "lists")  # the connection goes on after the cut body
    assert [body for _, _, body in answers] == [b"Hel", b"Hel", b"as lists", b"as lists"]


def test_a_body_shorter_than_its_content_length_is_a_500_never_a_short_answer(srv):
    status, _, body = framed(srv, "short")[1]
    assert status == 500 and b"hello" not in body
    wait_for(lambda: "short of its Content-Length" in srv.logs())


def test_headers_given_as_lists_are_framed_like_tuples(srv):
    status, headers, body = framed(srv, "lists")[1]
    assert (status, headers["x-kind"], headers["content-length"], body) == (
        200,
        "lists",
        "8",
        b"as lists",
    )


def test_an_apps_server_header_replaces_ours_on_every_answer(srv):
    for _, _, _ in framed(srv, "server"):
        pass
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(b"GET /framed?server HTTP/1.1\r\nHost: x\r\n\r\n")
            head = read_all(sock, until_close=False).partition(b"\r\n\r\n")[0].lower()
            assert head.count(b"\r\nserver:") == 1 and b"server: framed/1.0" in head
            assert head.count(b"\r\ndate:") == 1


def test_an_apps_connection_close_closes_after_the_answer(srv):
    for _ in range(2):
        data = raw_exchange(srv.port, b"GET /framed?close HTTP/1.1\r\nHost: x\r\n\r\n")
        assert data.endswith(b"\r\n\r\nclosing") and b"Connection: close" in data


def test_a_header_with_a_line_break_is_a_500_every_time(srv):
    assert [status for status, _, _ in framed(srv, "bad", "lists")] == [500, 500, 200, 200]


def test_head_gets_the_apps_content_length_and_no_body(srv):
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        for _ in range(2):  # and the connection goes on
            sock.sendall(b"HEAD /framed?long HTTP/1.1\r\nHost: x\r\n\r\n")
            head, _, body = read_all(sock, until_close=False).partition(b"\r\n\r\n")
            assert b"\r\nContent-Length: 3\r\n" in head and body == b""


def test_a_bytes_subclass_header_never_changes_how_plain_bytes_are_framed(srv):
    *_, (status, headers, body) = framed(srv, "odd", "plain-odd")
    assert (status, headers["x-odd"], headers["content-length"], body) == (200, "5", "6", b"plain!")


def test_every_answer_carries_its_own_headers(srv):
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        for n in range(5):
            sock.sendall(f"GET /framed?fresh={n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            _, headers, body = read_response(sock)
            assert (headers["set-cookie"], body) == ("id=" + str(n) * 400, b"fresh")


@pytest.mark.parametrize("kind", ["bytearray", "memoryview"])
def test_a_body_given_as_another_byte_buffer_is_sent_as_it_is(srv, kind):
    for status, headers, body in framed(srv, kind):  # twice: the memoised header block too
        assert (status, headers["x-kind"], body) == (200, kind, f"from a {kind}".encode())


def test_a_header_value_given_as_a_bytearray_is_framed_like_bytes(srv):
    for status, headers, body in framed(srv, "bytearray-value"):
        assert (status, headers["x-kind"], body) == (200, "bytearray-value", b"a bytearray value")


def test_messages_that_are_mappings_not_dicts_are_read_like_dicts(srv):
    response = httpx.get(srv.url("/raw/mapping"), timeout=10)
    assert (response.status_code, response.content) == (200, b"from mappings")


def test_a_body_of_none_in_one_message_is_an_empty_answer(srv):
    for _ in range(2):  # the second with the memoised header block
        data = raw_exchange(srv.port, b"GET /framed?none HTTP/1.1\r\nHost: x\r\n\r\n", 5, False)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and b"\r\nx-kind: none" in head
        assert body == b"0\r\n\r\n"  # chunked, with no chunk before the last


# -- how the app is called: its scope, and apps that are not an `async def` ----------------------------
def test_the_scopes_keys_come_in_their_usual_order(srv):
    assert httpx.get(srv.url("/keys/x")).json() == [
        "type",
        "asgi",
        "http_version",
        "scheme",
        "path",
        "raw_path",
        "query_string",
        "root_path",
        "headers",
        "client",
        "server",
        "method",
        "extensions",
    ]


def test_each_request_of_a_kept_alive_connection_gets_its_own_scope_headers(srv):
    """Names lowered, values as sent, for every request of one connection: the same headers
    again (the connection reuses its last request's), others, and never the change the app
    made to the previous request's list."""
    heads = [
        [("Host", "x"), ("X-Mixed-Case", "A")],
        [("Host", "x"), ("X-Mixed-Case", "A")],
        [("Host", "x"), ("X-Mixed-Case", "B")],
        [("Host", "x"), ("x-mixed-case", "A"), ("Accept", "*/*")],
        [("Host", "x"), ("X-Mixed-Case", "A")],
        [("Host", "x"), ("X-Mixed-Case", "A")],
    ]
    answers = []
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        for head in heads:
            lines = "".join(f"{name}: {value}\r\n" for name, value in head)
            sock.sendall(f"GET /scope-headers HTTP/1.1\r\n{lines}\r\n".encode())
            status, _, body = read_response(sock)
            assert status == 200
            answers.append(json.loads(body))
    assert answers == [[[name.lower(), value] for name, value in head] for head in heads]


def test_what_a_plain_function_app_sets_in_its_context_stays_in_its_request(srv):
    answers = [httpx.get(srv.url(f"/calling/{n}")).text for n in range(3)]
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        for n in range(3):
            sock.sendall(f"GET /calling/kept{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answers.append(read_response(sock)[2].decode())
    assert answers == ["seen=''"] * 6


def test_an_endpoint_class_mounted_as_the_app_answers(srv):
    for _ in range(2):
        response = httpx.get(srv.url("/endpoint"))
        assert (response.status_code, response.text) == (200, "an endpoint class")


def test_http_request_on_a_websocket_route_and_a_keep_alive_connection(srv):
    with httpx.Client() as client:
        for _ in range(3):
            assert client.get(srv.url("/star/json")).status_code == 200
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(b"GET /fast/items/1 HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
        received = b""
        while received.count(b'{"item_id":1') < 2:
            chunk = sock.recv(65536)
            assert chunk
            received += chunk


# -- lifespan ----------------------------------------------------------------------------------------
def test_lifespan_runs_startup_once_and_shutdown_on_sigterm(tmp_path):
    process = ServerProcess("asgi_apps.py", tmp_path, expect_ports=("main", "other"))
    try:
        process.start()
        assert httpx.get(process.url("/star/json")).json()["greeting"] == "hello from lifespan"
        # The lifespan runs in the worker process (the supervisor's child), as with uvicorn.
        (startup,) = tmp_path.glob("star-startup-*")
        pid = int(startup.name.rsplit("-", 1)[1])
        assert pid in [child.pid for child in psutil.Process(process.pid).children()]
        assert (tmp_path / f"star-startup-{pid}").read_text() == "x"  # once, though mounted twice
        assert (tmp_path / f"fast-startup-{pid}").read_text() == "x"
        assert not (tmp_path / f"star-shutdown-{pid}").exists()
        process.signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert (tmp_path / f"star-shutdown-{pid}").read_text() == "x"
        assert (tmp_path / f"fast-shutdown-{pid}").read_text() == "x"
    finally:
        process.stop()


def test_a_failing_lifespan_startup_stops_the_worker_from_serving(tmp_path):
    process = ServerProcess("asgi_lifespan_fails.py", tmp_path)
    try:
        process.start(wait=False)
        returncode = process.wait(30)
        assert returncode != 0
        assert "the model failed to load" in process.logs()
        ports = process.read_ports()
        assert all(not can_connect(port) for port in ports.values())
    finally:
        process.stop()


# A str, a pathlib.Path; headers given as lists
@pytest.mark.parametrize("named_by", ["pathsend", "pathsend-path", "pathsend-lists"])
def test_pathsend_sends_the_file_whole_on_a_kept_alive_connection(srv, named_by):
    expected = (APPS / "asgi_apps.py").read_bytes()
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=1)) as client:
        for _ in range(3):
            response = client.get(srv.url(f"/raw/{named_by}"))
            assert response.status_code == 200
            assert response.headers["content-length"] == str(len(expected))
            assert response.content == expected
        head = client.head(srv.url("/raw/pathsend"))
        assert head.headers["content-length"] == str(len(expected)) and head.content == b""
        assert client.get(srv.url("/raw/after")).status_code == 200

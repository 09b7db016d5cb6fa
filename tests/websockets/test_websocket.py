"""WebSockets against a real server process, with the websockets client and raw sockets."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from supervision import worker_pids
from support import ServerProcess, parse_response, raw_exchange, tcp_connections, wait_for
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import CLOSE, PING, TEXT, Close
from websockets.uri import parse_uri

TIMEOUT = 30.0
HANDSHAKE = (
    "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n"
)


@contextmanager
def websocket_server(
    tmp_path: Path, settings: dict[str, Any] | None = None, **run_kwargs: Any
) -> Iterator[ServerProcess]:
    events = tmp_path / "events.jsonl"
    if settings:
        run_kwargs["settings"] = settings
    process = ServerProcess(
        "websocket_app.py", tmp_path, run_kwargs, env={"HWEBSERVER_TEST_EVENTS": str(events)}
    )
    process.events_path = events  # type: ignore[attr-defined]
    try:
        process.start()
        yield process
    finally:
        process.stop()


def events(server: ServerProcess) -> list[dict[str, Any]]:
    path: Path = server.events_path  # type: ignore[attr-defined]
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for_disconnect(server: ServerProcess, path: str, code: int) -> None:
    """Until the app's disconnect() for `path` has run, with `code`."""
    wait_for(lambda: {"event": "disconnect", "path": path, "code": code} in events(server))


def ws_url(server: ServerProcess, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def client(server: ServerProcess, path: str, **kwargs: Any) -> connect:
    kwargs.setdefault("proxy", None)
    kwargs.setdefault("max_size", 1 << 24)
    kwargs.setdefault("open_timeout", TIMEOUT)
    return connect(ws_url(server, path), **kwargs)


def run(coro_fn: Callable[[], Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro_fn(), TIMEOUT * 2))


async def closed_code(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Wait until the server closed the connection; its close code and reason."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert ws.protocol.close_rcvd is not None, (
        "the server closed the TCP connection without a close frame"
    )
    return ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason


def test_text_and_binary_echo_and_http_alongside(tmp_path):
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            async with client(server, "/ws/echo") as ws:
                await ws.send("héllo wörld")
                assert await ws.recv() == "héllo wörld"
                await ws.send(b"\x00\x01\xfe\xff")
                assert await ws.recv() == b"\x00\x01\xfe\xff"
                await ws.send("")
                assert await ws.recv() == ""

        run(scenario)
        assert httpx.get(server.url("/hello")).text == "Hello, world!"


def test_send_with_channels_keywords_over_a_real_connection(tmp_path):
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            async with client(server, "/ws/channels-echo") as ws:
                await ws.send("héllo")
                assert await ws.recv() == "HÉLLO"  # a text frame: websockets gives str
                await ws.send(b"\x00\xff")
                assert await ws.recv() == b"\x00\xff"  # a binary frame: bytes
                await ws.send("")
                assert await ws.recv() == ""

        run(scenario)


def test_one_mebibyte_messages_both_ways(tmp_path):
    text = "0123456789abcdef" * (1 << 16)
    data = bytes(range(256)) * (1 << 12)
    assert len(text) == len(data) == 1 << 20
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            for compression in ("deflate", None):
                async with client(server, "/ws/echo", compression=compression) as ws:
                    await ws.send(text)
                    assert await ws.recv() == text
                    await ws.send(data)
                    assert await ws.recv() == data

        run(scenario)


def test_fragmented_messages_arrive_whole(tmp_path):
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            async with client(server, "/ws/echo") as ws:
                await ws.send(["frag", "mented ", "téxt"])
                assert await ws.recv() == "fragmented téxt"
                # A multi-byte character split across two fragments.
                await ws.send(iter([b"caf\xc3", b"\xa9"]), text=True)
                assert await ws.recv() == "café"
                await ws.send([b"\x01" * 70000, b"", b"\x02" * 3])
                assert await ws.recv() == b"\x01" * 70000 + b"\x02" * 3

        run(scenario)


def test_ping_is_answered_with_pong(tmp_path):
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            async with client(server, "/ws/echo", ping_interval=None) as ws:
                pong = await ws.ping(b"are you there")
                latency = await asyncio.wait_for(pong, TIMEOUT)
                assert latency >= 0
                await ws.send("still open")
                assert await ws.recv() == "still open"

        run(scenario)


def test_client_close_code_reaches_disconnect(tmp_path):
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            async with client(server, "/ws/echo/client-close") as ws:
                await ws.send("x")
                await ws.recv()
                await ws.close(4000, "client is done")
            assert (
                ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 4000
            )  # echoed

        run(scenario)
        wait_for_disconnect(server, "/ws/echo/client-close", 4000)


def test_server_close_code_and_reason_reach_client(tmp_path):
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            async with client(server, "/ws/echo/server-close") as ws:
                await ws.send("close:4002:see you")
                assert await closed_code(ws) == (4002, "see you")

        run(scenario)
        wait_for_disconnect(server, "/ws/echo/server-close", 4002)


def test_connection_not_accepted_gets_403(tmp_path):
    with websocket_server(tmp_path) as server:

        async def refused(path: str) -> int:
            with pytest.raises(InvalidStatus) as info:
                async with client(server, path):
                    pass
            return int(info.value.response.status_code)

        async def scenario() -> None:
            assert await refused("/ws/deny") == 403
            assert await refused("/ws/deny-close") == 403
            assert await refused("/ws/nowhere") == 404

        run(scenario)
        assert {"event": "denied", "path": "/ws/deny"} in events(server)
        assert not any(e["event"] == "disconnect" for e in events(server))


def test_fifty_concurrent_clients(tmp_path):
    with websocket_server(tmp_path) as server:

        async def one(index: int) -> list[str]:
            async with client(server, f"/ws/echo/{index}") as ws:
                answers = []
                for turn in range(20):
                    await ws.send(f"{index}:{turn}")
                    answers.append(await ws.recv())
                return answers

        async def scenario() -> None:
            results = await asyncio.gather(*(one(index) for index in range(50)))
            for index, answers in enumerate(results):
                assert answers == [f"{index}:{turn}" for turn in range(20)]

        run(scenario)
        wait_for(lambda: sum(e["event"] == "disconnect" for e in events(server)) == 50)


def test_receive_calls_are_sequential_and_in_order(tmp_path):
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            async with client(server, "/ws/order") as ws:
                for number in range(300):  # sent without waiting: they queue up
                    await ws.send(str(number))
                for number in range(300):
                    assert await ws.recv() == str(number)

        run(scenario)


def test_houdini_19_shape(tmp_path):
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            async with client(server, "/ws/houdini19") as ws:
                await ws.send("text from 19")
                assert await ws.recv() == "text from 19"
                await ws.send(b"bytes from 19")
                assert await ws.recv() == b"bytes from 19"

        run(scenario)
        wait_for(lambda: {"event": "disconnect19", "path": "/ws/houdini19"} in events(server))
        assert {"event": "connect19", "path": "/ws/houdini19"} in events(server)


def test_message_over_the_size_limit_closes_with_1009(tmp_path):
    with websocket_server(tmp_path, {"WEBSOCKET_MAX_MESSAGE_SIZE": 4096}) as server:

        async def scenario() -> None:
            async with client(server, "/ws/echo/limit") as ws:
                await ws.send("a" * 4096)  # at the limit: fine
                assert await ws.recv() == "a" * 4096
                await ws.send(b"b" * 4097)
                assert (await closed_code(ws))[0] == 1009
            async with client(server, "/ws/echo/limit-fragments", compression=None) as ws:
                await ws.send([b"c" * 3000, b"c" * 3000])  # each fragment fits, the whole not
                assert (await closed_code(ws))[0] == 1009

        run(scenario)
        wait_for_disconnect(server, "/ws/echo/limit", 1009)


def test_default_size_limit_is_16_mebibytes(tmp_path):
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            async with client(server, "/ws/echo", compression=None, max_size=None) as ws:
                await ws.send(b"z" * (16 << 20))
                assert len(await ws.recv()) == 16 << 20
                # One byte more, as a last fragment: the client has finished writing when the
                # server refuses it (a client still writing a big frame races the close).
                await ws.send([b"z" * (16 << 20), b"z"])
                assert (await closed_code(ws))[0] == 1009

        run(scenario)


def test_invalid_utf8_text_closes_with_1007(tmp_path):
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            async with client(server, "/ws/echo/utf8") as ws:
                await ws.send(b"ok \xff\xfe", text=True)
                assert (await closed_code(ws))[0] == 1007

        run(scenario)


def test_shutdown_closes_every_websocket_with_1001(tmp_path):
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            sockets = [await client(server, f"/ws/echo/stay{index}") for index in range(5)]
            for ws in sockets:
                await ws.send("hi")
                assert await ws.recv() == "hi"
            server.signal(signal.SIGTERM)
            codes = await asyncio.gather(*(closed_code(ws) for ws in sockets))
            assert [code for code, _ in codes] == [1001] * 5

        run(scenario)
        assert server.wait(TIMEOUT) == 0
        disconnects = [e for e in events(server) if e["event"] == "disconnect"]
        assert sorted(e["path"] for e in disconnects) == [f"/ws/echo/stay{i}" for i in range(5)]
        assert {e["code"] for e in disconnects} == {1001}


def held_by(pid: int, client_port: int) -> bool:
    """Process `pid` holds the server end of the connection from `client_port`."""
    try:
        return any(
            c.raddr and c.raddr.port == client_port for c in tcp_connections(psutil.Process(pid))
        )
    except psutil.NoSuchProcess:
        return False


def read_head_and_frame_start(sock: socket.socket) -> tuple[int, bytes]:
    """The status of the answer to an upgrade, and at least the first 4 bytes after its head
    (enough for a close frame's opcode and code); b"" if the server closed before."""
    sock.settimeout(TIMEOUT)
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < 4:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


def upgrade_during_a_reload(server: ServerProcess, path: str) -> tuple[int, int]:
    """A connection an old worker accepted before a HUP; its upgrade request sent once that
    worker drains. The answer's status and the close code of the frame after it; returns once
    the old workers are gone (their drain ended)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        client_port = sock.getsockname()[1]
        # Looked up on each poll: a loaded machine may list the first worker only after the
        # port is reported.
        holder = wait_for(
            lambda: next((pid for pid in worker_pids(server) if held_by(pid, client_port)), 0),
            timeout=TIMEOUT,
        )
        server.signal(signal.SIGHUP)
        wait_for(lambda: "generation 0 drains" in server.logs(), timeout=TIMEOUT)
        sock.sendall(HANDSHAKE.format(path=path, version=13, extra="").encode())
        status, frame = read_head_and_frame_start(sock)
    wait_for(lambda: holder not in worker_pids(server), timeout=TIMEOUT)
    closing = len(frame) >= 4 and frame[0] == 0x88  # FIN + close
    return status, int.from_bytes(frame[2:4], "big") if closing else 0


def test_upgrade_reaching_a_worker_retiring_in_a_reload_opens_then_closes_1001(tmp_path):
    """A connection that an old worker accepted before a reload, whose upgrade request comes
    while that worker drains, is not refused with 503 (a reload refuses nothing): the
    WebSocket opens, then closes with 1001 as every WebSocket of the old workers does.
    Seen in a soak test: a client's connect failed with 503 one second after a HUP."""
    with websocket_server(tmp_path) as server:
        assert upgrade_during_a_reload(server, "/ws/echo/late") == (101, 1001)
        assert {"event": "connect", "path": "/ws/echo/late"} in events(server)


def test_asgi_upgrade_reaching_a_worker_retiring_in_a_reload_opens_then_closes_1001(tmp_path):
    """The same for a mounted ASGI app that accepts a moment after websocket.connect: the
    drain's polls meanwhile leave it be, and close it with 1001 once accepted."""
    with ServerProcess("asgi_websocket_slow_accept.py", tmp_path) as server:
        assert upgrade_during_a_reload(server, "/late") == (101, 1001)


def test_raising_handler_closes_with_1011_and_is_logged(tmp_path):
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            async with client(server, "/ws/echo/bystander") as bystander:
                async with client(server, "/ws/receive-raises") as ws:
                    await ws.send("first")
                    assert await ws.recv() == "ok first"
                    await ws.send("boom")
                    await ws.send("never answered")
                    assert (await closed_code(ws))[0] == 1011
                await bystander.send("unaffected")
                assert await bystander.recv() == "unaffected"

        run(scenario)
        wait_for(lambda: "secret-receive-failure" in server.logs())
        assert "ReceiveRaises.receive" in server.logs()
        wait_for_disconnect(server, "/ws/receive-raises", 1011)


def test_connect_that_raises_gets_500_without_details(tmp_path):
    with websocket_server(tmp_path) as server:
        answer = raw_exchange(
            server.port, HANDSHAKE.format(path="/ws/connect-raises", version=13, extra="").encode()
        )
        status, _, body = parse_response(answer)
        assert status == 500
        assert b"secret-connect-failure" not in body
        wait_for(lambda: "secret-connect-failure" in server.logs())


def test_origin_checked_against_cors_whitelist(tmp_path):
    settings = {"CORS_ORIGIN_WHITELIST": ["https://dashboard.example:8443"]}
    with websocket_server(tmp_path, settings) as server:

        async def scenario() -> None:
            async with client(server, "/ws/echo", origin="https://dashboard.example:8443") as ws:
                await ws.send("allowed")
                assert await ws.recv() == "allowed"
            # Origins compare as the CORS policy compares them: case and default ports aside.
            async with client(server, "/ws/echo", origin="HTTPS://Dashboard.example:8443") as ws:
                await ws.send("same origin")
                assert await ws.recv() == "same origin"
            async with client(server, "/ws/echo") as ws:  # no Origin: not a browser
                await ws.send("no origin")
                assert await ws.recv() == "no origin"
            with pytest.raises(InvalidStatus) as info:
                async with client(server, "/ws/echo/evil", origin="https://evil.example"):
                    pass
            assert info.value.response.status_code == 403

        run(scenario)
        assert not any(e.get("path") == "/ws/echo/evil" for e in events(server))


def test_port_policy_applies_to_upgrades(tmp_path):
    with websocket_server(tmp_path, {"ALLOWED_HOSTS": ["good.example"]}) as server:
        request = HANDSHAKE.format(path="/ws/echo", version=13, extra="")
        status, _, _ = parse_response(raw_exchange(server.port, request.encode()))
        assert status == 400  # Host 127.0.0.1 is not allowed
        allowed = request.replace("Host: 127.0.0.1", "Host: good.example")
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(allowed.encode())
            assert sock.recv(65536).startswith(b"HTTP/1.1 101 ")


def test_any_origin_without_whitelist(tmp_path):
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            async with client(server, "/ws/echo", origin="https://anywhere.example") as ws:
                await ws.send("fine")
                assert await ws.recv() == "fine"

        run(scenario)


def test_send_waits_while_the_client_does_not_read(tmp_path):
    count, size = 400, 65536  # 25 MiB in all: far more than every buffer on the way
    with websocket_server(tmp_path) as server:

        def sent() -> int:
            return int(httpx.get(server.url("/sent")).text)

        async def scenario() -> None:
            async with client(server, "/ws/flood", compression=None, max_queue=1) as ws:
                # The client's receive buffer fills up, then TCP stops the server's writes.
                await ws.send(f"{count} {size}")
                previous = -1
                while True:  # wait until the server stopped making progress
                    await asyncio.sleep(0.5)
                    now = await asyncio.to_thread(sent)
                    if now == previous:
                        break
                    previous = now
                assert previous < count // 2, f"{previous} sends completed, the client read none"
                received = 0
                while True:
                    message = await ws.recv()
                    if message == "done":
                        break
                    assert len(message) == size
                    received += 1
                assert received == count

        run(scenario)
        assert sent() == count


def test_subprotocol_and_send_from_connect(tmp_path):
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            async with client(server, "/ws/subprotocol", subprotocols=["chat.v1", "chat.v2"]) as ws:
                assert ws.subprotocol == "chat.v2"
            async with client(server, "/ws/greet?name=ada") as ws:
                assert await ws.recv() == "hello ada"

        run(scenario)


def test_invalid_handshakes_are_refused(tmp_path):
    with websocket_server(tmp_path) as server:
        bad_version = HANDSHAKE.format(path="/ws/echo", version=8, extra="")
        status, _, _ = parse_response(raw_exchange(server.port, bad_version.encode()))
        assert status == 400
        no_key = HANDSHAKE.format(path="/ws/echo", version=13, extra="").replace(
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""
        )
        status, _, _ = parse_response(raw_exchange(server.port, no_key.encode()))
        assert status == 400
        post = HANDSHAKE.format(path="/ws/echo", version=13, extra="").replace("GET", "POST", 1)
        status, headers, _ = parse_response(raw_exchange(server.port, post.encode()))
        assert status == 405 and headers["allow"] == "GET"
        # Another protocol's upgrade is ignored: plain HTTP answers.
        h2c = (
            "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
        )
        status, _, body = parse_response(raw_exchange(server.port, h2c.encode()))
        assert (status, body) == (200, b"Hello, world!")
        assert httpx.get(server.url("/hello")).status_code == 200


def raw_websocket(port: int, path: str) -> tuple[socket.socket, ClientProtocol]:
    """A TCP connection through the handshake, driven by hand with the sans-I/O client."""
    protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}{path}"))
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    request = protocol.connect()
    protocol.send_request(request)
    for data in protocol.data_to_send():
        sock.sendall(data)
    while protocol.state.name == "CONNECTING":
        protocol.receive_data(sock.recv(65536))
    protocol.events_received()
    return sock, protocol


def assert_pinged_then_closed(port: int, path: str) -> None:
    """A client that never writes (so never answers a ping) is pinged, then closed with 1011
    once the 1 s ping timeout has passed."""
    sock, protocol = raw_websocket(port, path)
    started = time.monotonic()
    frames: list[Any] = []
    with sock:
        while not any(frame.opcode == CLOSE for frame in frames):
            data = sock.recv(65536)
            assert data, "closed without a close frame"
            protocol.receive_data(data)
            frames += protocol.events_received()
    assert frames[0].opcode == PING
    assert Close.parse(frames[-1].data).code == 1011
    assert time.monotonic() - started >= 1.0


def answer_pings(sock: socket.socket, protocol: ClientProtocol, count: int) -> None:
    """Read until `count` pings came (nothing else may), answering each: never closed."""
    pings = 0
    while pings < count:
        data = sock.recv(65536)
        assert data, "closed although every ping was answered"
        protocol.receive_data(data)
        for frame in protocol.events_received():
            assert frame.opcode == PING
            pings += 1
        for data in protocol.data_to_send():  # the pongs
            sock.sendall(data)


def test_idle_client_is_pinged_and_closed_when_it_never_answers(tmp_path):
    settings = {"WEBSOCKET_PING_INTERVAL": 0.5, "WEBSOCKET_PING_TIMEOUT": 1.0}
    with websocket_server(tmp_path, settings) as server:
        assert_pinged_then_closed(server.port, "/ws/echo/mute")

        # A client that answers: pinged again and again, never closed.
        sock, protocol = raw_websocket(server.port, "/ws/echo/answering")
        with sock:
            answer_pings(sock, protocol, 3)
            protocol.send_text(b"alive")
            for data in protocol.data_to_send():
                sock.sendall(data)
            answers: list[Any] = []
            while not any(frame.opcode == TEXT for frame in answers):
                protocol.receive_data(sock.recv(65536))
                answers += protocol.events_received()
            assert [f.data for f in answers if f.opcode == TEXT] == [b"alive"]


def test_websocket_over_tls(tmp_path):
    from certificates import make_certificate

    cert, key = make_certificate(tmp_path)
    settings = {"SSL_CERTIFICATE": str(cert), "SSL_CERTIFICATE_KEY": str(key)}
    context = ssl.create_default_context(cafile=str(cert))
    with websocket_server(tmp_path, settings) as server:

        async def scenario() -> None:
            url = f"wss://127.0.0.1:{server.port}/ws/echo/tls"
            async with connect(url, ssl=context, proxy=None, max_size=None) as ws:
                await ws.send("secure")
                assert await ws.recv() == "secure"
                await ws.send(b"s" * (1 << 20))
                assert await ws.recv() == b"s" * (1 << 20)
                await ws.send("close:4003:tls bye")
                assert await closed_code(ws) == (4003, "tls bye")

        run(scenario)
        wait_for_disconnect(server, "/ws/echo/tls", 4003)


def test_broadcast_reaches_every_open_member_and_skips_closed_ones(tmp_path):
    with websocket_server(tmp_path) as server:

        async def scenario() -> None:
            async with (
                client(server, "/ws/room") as first,
                client(server, "/ws/room") as second,
                client(server, "/ws/room") as third,
            ):
                for ws, members in ((first, 1), (second, 2), (third, 3)):
                    assert await ws.recv() == f"members {members}"
                await second.send("hello all")
                assert await first.recv() == "hello all"
                assert await third.recv() == "hello all"
                assert await second.recv() == "hello all"
                assert await second.recv() == "sent to 3"
                await third.close()
                await first.send("bytes:binary now")
                assert await first.recv() == b"binary now"
                assert await second.recv() == b"binary now"
                assert await first.recv() == "sent to 2"  # the closed one skipped, not raised

        run(scenario)

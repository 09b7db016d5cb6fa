"""Byte-level tests of HttpProtocol with a fake transport: framing, ordering, flow control."""

from __future__ import annotations

import asyncio
import itertools
import socket
from typing import Any

import pytest
import uvloop

import hwebserver
from hwebserver.api.handlers import ASYNC_HANDLER
from hwebserver.api.mounts import ASGI, WSGI
from hwebserver.api.routing import Route, Router
from hwebserver.api.settings import ServerSettings
from hwebserver.worker.apps import exchange
from hwebserver.worker.common.config import Listener, WorkerConfig
from hwebserver.worker.common.state import WorkerState
from hwebserver.worker.http.protocol import HttpProtocol


class FakeTransport:
    def __init__(self) -> None:
        self.data = bytearray()
        self.reading = True
        self.closed = False
        self.eof_written = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.data += data

    def writelines(self, parts: Any) -> None:
        for part in parts:
            self.write(part)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 4000), "sockname": ("127.0.0.1", 8008)}.get(name, default)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0


def hello(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response("hi " + request.path(), content_type="text/plain")


def echo(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(request.body(), content_type="application/octet-stream")


async def later(request: hwebserver.Request) -> str:
    await asyncio.sleep(0.01)
    return "later " + request.path()


@pytest.fixture
def harness():
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    state = WorkerState(WorkerConfig(server=ServerSettings(MAX_PIPELINED=4)), loop)
    router = Router()
    router.add(Route("/hello", hello, is_prefix=True))
    router.add(Route("/later", later, is_prefix=True))
    router.add(Route("/echo", echo))
    router.add(Route("/version", lambda request: request.protocol()))
    state.router = router
    sock = socket.socket()

    def connect() -> tuple[HttpProtocol, FakeTransport]:
        protocol = HttpProtocol(state, Listener("main", sock))
        transport = FakeTransport()
        protocol.connection_made(transport)
        return protocol, transport

    def run_until(predicate, timeout=5.0):
        async def wait():
            while not predicate():
                await asyncio.sleep(0.001)

        loop.run_until_complete(asyncio.wait_for(wait(), timeout))

    def feed(protocol: HttpProtocol, data: bytes) -> None:
        """Deliver bytes from inside the running loop, as a real transport does."""

        async def deliver():
            protocol.data_received(data)

        loop.run_until_complete(deliver())

    yield connect, run_until, feed
    state.close()
    sock.close()
    loop.close()
    asyncio.set_event_loop(None)


def bodies(data: bytes) -> list[bytes]:
    parts = bytes(data).split(b"HTTP/1.1 ")[1:]
    return [part.split(b"\r\n\r\n", 1)[1] for part in parts]


def test_a_request_split_at_every_byte_gives_the_same_answer(harness):
    connect, run_until, feed = harness
    request = b"POST /hello/x?q=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
    protocol, transport = connect()
    feed(protocol, request)
    run_until(lambda: transport.data.endswith(b"hi /hello/x"))
    expected = bytes(transport.data)
    for split in range(1, len(request)):
        protocol, transport = connect()
        feed(protocol, request[:split])
        feed(protocol, request[split:])
        run_until(lambda transport=transport: transport.data.endswith(b"hi /hello/x"))
        assert bytes(transport.data) == expected, split
    assert expected.startswith(b"HTTP/1.1 200 OK\r\n") and expected.endswith(b"hi /hello/x")


def test_pipelined_requests_in_one_segment_are_answered_in_order(harness):
    connect, run_until, feed = harness
    protocol, transport = connect()
    feed(
        protocol,
        b"GET /later/1 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"GET /hello/2 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"GET /later/3 HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    run_until(lambda: transport.data.count(b"HTTP/1.1 200") == 3)
    assert bodies(transport.data) == [b"later /later/1", b"hi /hello/2", b"later /later/3"]


def test_reading_pauses_when_the_pipeline_queue_is_full(harness):
    connect, run_until, feed = harness
    protocol, transport = connect()
    feed(protocol, b"GET /later/0 HTTP/1.1\r\nHost: h\r\n\r\n" * 6)
    assert not transport.reading  # 1 in progress + 5 queued > MAX_PIPELINED (4)
    run_until(lambda: transport.data.count(b"HTTP/1.1 200") == 6)
    assert transport.reading


def test_reading_pauses_while_the_client_does_not_read(harness):
    connect, run_until, feed = harness
    protocol, transport = connect()
    protocol.pause_writing()
    assert not transport.reading
    feed(protocol, b"GET /hello/1 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert transport.data == b""  # nothing is answered while the client cannot take it
    protocol.resume_writing()
    assert transport.reading
    run_until(lambda: bodies(transport.data) == [b"hi /hello/1"])


def test_malformed_bytes_get_400_and_a_half_close(harness):
    connect, _, feed = harness
    protocol, transport = connect()
    feed(protocol, b"\x00\x01\x02 nonsense\r\n\r\n")
    assert transport.data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Connection: close\r\n" in transport.data
    assert transport.eof_written
    before = len(transport.data)
    feed(protocol, b"GET /hello HTTP/1.1\r\nHost: h\r\n\r\n")
    assert len(transport.data) == before  # nothing more is parsed after an error


def test_keep_alive_is_off_for_http10_without_the_header(harness):
    connect, run_until, feed = harness
    protocol, transport = connect()
    feed(protocol, b"GET /hello HTTP/1.0\r\n\r\n")
    run_until(lambda: transport.closed)
    assert b"Connection: close\r\n" in transport.data


def test_each_pipelined_message_is_answered_for_its_own_http_version(harness):
    # The version is inferred from keep-alive when no Connection header is sent: this pins
    # every combination a client may mix on one connection.
    connect, run_until, feed = harness
    protocol, transport = connect()
    feed(
        protocol,
        b"GET /version HTTP/1.1\r\nHost: h\r\n\r\n"
        b"GET /version HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        b"GET /version HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n"
        b"GET /version HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n",
    )
    run_until(lambda: len(bodies(transport.data)) == 4)
    feed(protocol, b"GET /version HTTP/1.1\r\nhost: h\r\n\r\nGET /version HTTP/1.0\r\n\r\n")
    run_until(lambda: transport.closed)
    assert bodies(transport.data) == [b"HTTP/1.1", b"HTTP/1.0"] * 3
    assert transport.data.count(b"Connection: keep-alive\r\n") == 2  # the kept HTTP/1.0 ones


def test_proxy_connection_close_closes_like_connection_close(harness):
    connect, run_until, feed = harness
    protocol, transport = connect()
    feed(protocol, b"GET /version HTTP/1.1\r\nHost: h\r\nProxy-Connection: close\r\n\r\n")
    run_until(lambda: transport.closed)
    assert b"Connection: close\r\n" in transport.data
    assert bodies(transport.data) == [b"HTTP/1.1"]


def test_a_pipelined_head_cut_short_still_counts_toward_the_head_limit(harness):
    # The first segment ends one request and holds 40 KB of the next head; the second brings
    # 30 KB more: the whole head is past the 64 KiB limit though neither segment is.
    connect, run_until, feed = harness
    protocol, transport = connect()
    feed(
        protocol,
        b"GET /hello/1 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"GET /hello/2 HTTP/1.1\r\nHost: h\r\nX-A: " + b"a" * 40000,
    )
    feed(protocol, b"a" * 30000 + b"\r\n\r\n")
    run_until(lambda: transport.eof_written)
    assert bodies(transport.data)[0] == b"hi /hello/1"
    assert b"HTTP/1.1 431 " in transport.data
    assert b"hi /hello/2" not in transport.data


def test_a_head_at_the_limit_is_served_wherever_the_segments_cut_it(harness):
    connect, run_until, feed = harness
    first = b"GET /hello/1 HTTP/1.1\r\nHost: h\r\n\r\n"
    second = b"GET /hello/2 HTTP/1.1\r\nHost:h\r\n" + b"a:\r\n" * 20 + b"\r\n"
    for cut in range(1, len(second)):
        protocol, transport = connect()
        protocol.max_header_size = len(second)  # exactly at the limit: allowed
        feed(protocol, first + second[:cut])
        feed(protocol, second[cut:])
        run_until(lambda transport=transport: len(bodies(transport.data)) == 2)
        assert bodies(transport.data) == [b"hi /hello/1", b"hi /hello/2"], cut


@pytest.mark.parametrize("second", [b"Host", b"host", b"HOST", b"hOsT"])
def test_a_second_host_header_is_refused_however_it_is_spelled(harness, second):
    connect, run_until, feed = harness
    protocol, transport = connect()
    feed(protocol, b"GET /version HTTP/1.1\r\nHost: a\r\n" + second + b": b\r\n\r\n")
    run_until(lambda: transport.eof_written)
    assert transport.data.startswith(b"HTTP/1.1 400 ")
    assert b"more than one Host header" in transport.data


def test_request_after_connection_close_is_not_answered(harness):
    connect, run_until, feed = harness
    protocol, transport = connect()
    feed(
        protocol,
        b"GET /hello/1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        b"GET /hello/2 HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    run_until(lambda: transport.closed)
    assert bodies(transport.data) == [b"hi /hello/1"]


class FaultyRouter(Router):
    """A fault of the server's own in routing (as `OPTIONS *` once raised in the lookup)."""

    def match(self, port_name: str, path: str) -> Route | None:
        if path.startswith("/fault"):
            raise ValueError("a bug in routing")
        return super().match(port_name, path)


def test_a_fault_in_routing_answers_500_and_closes(harness):
    connect, run_until, feed = harness
    protocol, transport = connect()
    faulty = FaultyRouter()
    faulty.add(Route("/hello", hello, is_prefix=True))
    protocol.router = faulty
    feed(protocol, b"GET /fault HTTP/1.1\r\nHost: h\r\n\r\nGET /hello HTTP/1.1\r\nHost: h\r\n\r\n")
    run_until(lambda: transport.eof_written or transport.closed)
    assert transport.data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"Connection: close\r\n" in transport.data
    assert b"a bug in routing" not in transport.data  # no detail leaks to the client
    assert transport.data.count(b"HTTP/1.1 ") == 1
    assert protocol.active is None


@pytest.mark.parametrize("kind", [ASGI, WSGI, ASYNC_HANDLER])
def test_a_route_no_adapter_serves_answers_500_and_closes(harness, kind):
    """A connection made without the worker's adapters (exchange_starters) still answers a
    request for an app mount or an AsyncURLHandler: 500, not a hang or a dropped request."""
    connect, run_until, feed = harness
    protocol, transport = connect()
    routes = Router()
    routes.add(Route("/app", hello, is_prefix=True, kind=kind, runs_exchange=True))
    protocol.router = routes
    feed(protocol, b"GET /app/x HTTP/1.1\r\nHost: h\r\n\r\nGET /app/y HTTP/1.1\r\nHost: h\r\n\r\n")
    run_until(lambda: transport.eof_written or transport.closed)
    assert transport.data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"Connection: close\r\n" in transport.data
    assert transport.data.count(b"HTTP/1.1 ") == 1
    assert protocol.active is None


BODY = bytes(range(256)) * 4
POST_THEN_GET = (
    b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(BODY)
    + BODY
    + b"GET /hello HTTP/1.1\r\nHost: h\r\n\r\n"
)
BODY_START = POST_THEN_GET.index(b"\r\n\r\n") + 4
BODY_END = BODY_START + len(BODY)
# Where the segments may be cut: in the head, at the body's first and last bytes, inside it,
# and in the next request.
CUTS = [BODY_START - 1, BODY_START, BODY_START + 1, BODY_START + 300, BODY_END - 1, BODY_END,
        BODY_END + 1, BODY_END + 20]  # fmt: skip


@pytest.mark.parametrize(
    "cuts", [(a, b) for a in CUTS for b in CUTS if a < b] + [(a,) for a in CUTS], ids=str
)
def test_a_body_cut_anywhere_reaches_the_handler_whole_and_the_next_request_follows(harness, cuts):
    """A body of known length arrives in segments cut anywhere (those after its head's go to
    the body as they are, past the parser): the handler gets it whole, and the request
    pipelined behind it, in the same segment as its end or the next, is answered after it."""
    connect, run_until, feed = harness
    protocol, transport = connect()
    bounds = [0, *cuts, len(POST_THEN_GET)]
    for start, end in itertools.pairwise(bounds):
        feed(protocol, POST_THEN_GET[start:end])
    run_until(lambda: transport.data.count(b"HTTP/1.1 200") == 2)
    first, second = bodies(bytes(transport.data))
    assert first == BODY
    assert second == b"hi /hello"
    # The connection is ready for more: the parser that took over after the body parses it.
    feed(protocol, b"GET /hello/again HTTP/1.1\r\nHost: h\r\n\r\n")
    run_until(lambda: transport.data.count(b"HTTP/1.1 200") == 3)
    assert bodies(bytes(transport.data))[2] == b"hi /hello/again"


def test_a_malformed_part_in_a_later_segment_is_refused_and_nothing_follows_it(harness):
    """A fault found in a segment that bypasses the parser is answered as one the parser
    reports (here a multipart part whose header line has no colon: 400), and what the
    client sent after it is not served."""
    connect, run_until, feed = harness
    protocol, transport = connect()
    first = b'--XYZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue\r\n--XYZ\r\n'
    later = b"no colon here\r\n\r\nvalue\r\n--XYZ--\r\n"
    head = (
        b"POST /echo HTTP/1.1\r\nHost: h\r\n"
        b"Content-Type: multipart/form-data; boundary=XYZ\r\n"
        b"Content-Length: %d\r\n\r\n" % (len(first) + len(later))
    )
    feed(protocol, head + first)
    feed(protocol, later + b"GET /hello HTTP/1.1\r\nHost: h\r\n\r\n")
    run_until(lambda: transport.eof_written or transport.closed)
    assert transport.data.startswith(b"HTTP/1.1 400 ")
    assert transport.data.count(b"HTTP/1.1 ") == 1


def mount_asgi(protocol: HttpProtocol, path: str, app: Any) -> None:
    """`app` mounted at `path` on this connection alone, as registerASGIApp mounts one (its
    body streams to it), with the worker's adapters."""
    mount = Route(path, app, is_prefix=True, kind=ASGI, is_async=False, runs_exchange=True)
    mount.streams_body = True
    routes = Router()
    routes.add(mount)
    protocol.router = routes
    protocol.exchange_starters = exchange.STARTERS


def test_body_segments_after_the_head_reach_a_mounted_app_as_they_came(harness):
    """A body's later segments go to the body as the transport gave them: the app receives
    the very bytes objects (no copy of an upload's every byte in the parser)."""
    connect, run_until, feed = harness
    received: list[bytes] = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            raise RuntimeError("no lifespan")
        more = True
        while more:
            message = await receive()
            received.append(message["body"])
            more = message["more_body"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"%d" % sum(map(len, received))})

    protocol, transport = connect()
    mount_asgi(protocol, "/up", app)
    segments = [b"x" * 1000, b"y" * 5000, b"z" * 4000]
    feed(protocol, b"POST /up/ HTTP/1.1\r\nHost: h\r\nContent-Length: 10000\r\n\r\n")
    for segment in segments:
        feed(protocol, segment)
    run_until(lambda: b"\r\n\r\n10000" in transport.data)
    assert [id(data) for data in received if data] == [id(segment) for segment in segments]


@pytest.mark.parametrize("same_segment", [True, False], ids=["same segment", "next segment"])
@pytest.mark.parametrize(
    "last_head",
    [
        b"POST /nope HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 20\r\n\r\n",
        b"POST /nope HTTP/1.0\r\nContent-Length: 20\r\n\r\n",
    ],
    ids=["connection close", "http/1.0"],
)
def test_nothing_sent_after_a_connections_last_message_runs(harness, last_head, same_segment):
    """A request that ends its connection, answered at once (a 404), whose body ends in a
    later segment: what the client sent after it is refused, never started, even a request
    for a mounted app, which is queued as soon as its head is parsed."""
    connect, run_until, feed = harness
    ran: list[str] = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            raise RuntimeError("no lifespan")
        ran.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ran"})

    protocol, transport = connect()
    mount_asgi(protocol, "/app", app)
    after = b"POST /app/second HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nzz"
    feed(protocol, last_head + b"0123456789")
    if same_segment:
        feed(protocol, b"0123456789" + after)
    else:
        feed(protocol, b"0123456789")
        feed(protocol, after)
    run_until(lambda: transport.closed or transport.eof_written)
    run_until(lambda: protocol.active is None and not protocol.queue)
    assert ran == []
    assert transport.data.startswith(b"HTTP/1.1 404 ")
    assert transport.data.count(b"HTTP/1.1 ") == 1


class SocketBackedTransport(FakeTransport):
    """A fake transport over a real connected socket, whose unread bytes the kernel counts."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.sock if name == "socket" else super().get_extra_info(name, default)


def test_a_drain_answers_a_request_that_waits_unread_in_the_socket(harness):
    """A connection accepted just before a shutdown, its request sent but not yet read: the
    drain answers it (Connection: close) instead of closing it under the client."""
    connect, run_until, feed = harness
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = socket.create_connection(listener.getsockname())
        server_side, _ = listener.accept()
    with client, server_side:
        protocol, _ = connect()
        transport = SocketBackedTransport(server_side)
        protocol.connection_made(transport)  # made again, over the real socket
        request = b"GET /hello/late HTTP/1.1\r\nHost: h\r\n\r\n"
        client.sendall(request)
        run_until(lambda: protocol.input_waiting())
        protocol.state.draining = True
        protocol.shutdown(close_idle=True)
        assert not transport.closed
        feed(protocol, server_side.recv(65536))  # what the loop reads next
        run_until(lambda: transport.closed or transport.eof_written)
        assert bodies(transport.data) == [b"hi /hello/late"]
        assert b"Connection: close\r\n" in transport.data

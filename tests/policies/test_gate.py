"""Every kind of entry against every port rule, through real sockets: one gate for them all.

The port rules (ALLOWED_HOSTS, SSL_REDIRECT, CORS_ORIGIN_WHITELIST, HSTS) hold for every request
whatever serves it (worker/http/gate.py). ENTRIES lists one route of each kind that
api/routing.py's ROUTE_KINDS defines, and each kind of WebSocket; the first test fails when a
kind is added there without an entry here, so a new kind cannot go untested past the gate.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from support import ServerProcess, parse_response

from hwebserver.api.routing import ROUTE_KINDS
from hwebserver.worker.http.gate import UPGRADE_KINDS

GOOD_HOST = "good.example"
GOOD_ORIGIN = "http://good.example"
EVIL_ORIGIN = "http://evil.example"


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # the Route.kind that serves it
    path: str
    method: str = "GET"
    body: bytes = b""
    upgrade: bool = False  # a WebSocket upgrade request


ENTRIES = (
    Entry("plain handler", "handler", "/plain"),
    Entry("async handler", "handler", "/async"),
    Entry("api function", "api", "/api", "POST", json.dumps(["ping", [], {}]).encode()),
    Entry("AsyncURLHandler", "async_handler", "/async-url"),
    Entry("WSGI mount", "wsgi", "/wsgi/"),
    Entry("ASGI mount", "asgi", "/asgi/"),
    Entry("static files", "static", "/files/index.txt"),
    Entry("archive", "static", "/zip/index.txt"),
    Entry("opdef", "opdef", "/opdef/Sop/box?IconImage"),
    Entry("admin endpoint", "admin", "/livez"),
    Entry("WebSocket class", "websocket", "/hws", upgrade=True),
    Entry("ASGI WebSocket", "asgi", "/asgi/ws", upgrade=True),
)
IDS = [entry.name for entry in ENTRIES]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    port_settings = {
        "main": {
            "ALLOWED_HOSTS": [GOOD_HOST],
            "CORS_ORIGIN_WHITELIST": [GOOD_ORIGIN],
            "ADMIN_ENDPOINTS": True,
        },
        "secure": {
            "SSL_REDIRECT": True,
            "SECURE_HSTS_SECONDS": 60,
            "USE_X_FORWARDED_HOST": True,  # so X-Forwarded-Proto: https makes a request secure
            "ADMIN_ENDPOINTS": True,
        },
    }
    process = ServerProcess(
        "gate_app.py",
        tmp_path_factory.mktemp("gate"),
        {"ports": ["secure"]},
        env={"HWEBSERVER_TEST_PORT_SETTINGS": json.dumps(port_settings)},
        expect_ports=("main", "secure"),
    )
    with process:
        yield process


def request_bytes(entry: Entry, host: str = GOOD_HOST, *extra: str, method: str = "") -> bytes:
    lines = [f"{method or entry.method} {entry.path} HTTP/1.1", f"Host: {host}", *extra]
    if entry.upgrade:
        lines += [
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        ]
    else:
        lines.append("Connection: close")
    if entry.body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(entry.body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + entry.body


def answer(
    srv: ServerProcess, data: bytes, port: str = "main"
) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and what came of the body with the head (a WebSocket's 101 is
    followed by frames, so nothing waits for the connection to close)."""
    with socket.create_connection(("127.0.0.1", srv.ports[port]), timeout=15) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"closed before a full head: {received!r}"
            received += chunk
    return parse_response(received)


def vary(headers: dict[str, str]) -> set[str]:
    return {part.strip().lower() for part in headers.get("vary", "").split(",")}


def test_every_kind_of_entry_is_enumerated():
    """A kind of route added without an entry here fails: add it, and it meets every rule."""
    assert {entry.kind for entry in ENTRIES} == set(ROUTE_KINDS)
    assert {entry.kind for entry in ENTRIES if entry.upgrade} == set(UPGRADE_KINDS)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_a_request_the_rules_allow_is_served(srv, entry):
    """The control: each entry answers itself (so a refusal below is the gate's, not a 404)."""
    status, _, _ = answer(srv, request_bytes(entry, GOOD_HOST, f"Origin: {GOOD_ORIGIN}"))
    assert status == (101 if entry.upgrade else 200)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_a_host_not_allowed_is_refused(srv, entry):
    status, _, body = answer(srv, request_bytes(entry, "evil.example"))
    assert status == 400
    assert b"is not allowed" in body


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_an_origin_not_allowed_is_refused(srv, entry):
    """A WebSocket from another origin gets 403 (browsers apply no CORS to WebSockets); an
    HTTP response to it carries no Access-Control-Allow-Origin, so the browser hides it."""
    status, headers, _ = answer(srv, request_bytes(entry, GOOD_HOST, f"Origin: {EVIL_ORIGIN}"))
    if entry.upgrade:
        assert status == 403
        return
    assert status == 200
    assert "access-control-allow-origin" not in headers
    assert "origin" in vary(headers)
    status, headers, _ = answer(srv, request_bytes(entry, GOOD_HOST, f"Origin: {GOOD_ORIGIN}"))
    assert headers.get("access-control-allow-origin") == GOOD_ORIGIN
    assert "origin" in vary(headers)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_plain_http_is_redirected_to_https(srv, entry):
    status, headers, _ = answer(srv, request_bytes(entry), port="secure")
    assert status == 301
    assert headers["location"] == f"https://{GOOD_HOST}{entry.path}"


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_a_secure_request_gets_hsts(srv, entry):
    """Behind a TLS proxy (X-Forwarded-Proto, trusted on that port): no redirect, and every
    answer but a 101 carries Strict-Transport-Security."""
    data = request_bytes(entry, GOOD_HOST, "X-Forwarded-Proto: https")
    status, headers, _ = answer(srv, data, port="secure")
    if entry.upgrade:
        assert status == 101
        return
    assert status == 200
    assert headers["strict-transport-security"] == "max-age=60"


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_a_cors_preflight_is_answered_by_the_gate(srv, entry):
    def preflight(origin: str) -> tuple[int, dict[str, str], bytes]:
        plain = Entry(entry.name, entry.kind, entry.path)  # a preflight is never an upgrade
        data = request_bytes(
            plain,
            GOOD_HOST,
            f"Origin: {origin}",
            "Access-Control-Request-Method: GET",
            method="OPTIONS",
        )
        return answer(srv, data)

    status, headers, _ = preflight(EVIL_ORIGIN)
    assert status == 403
    assert "access-control-allow-origin" not in headers
    status, headers, _ = preflight(GOOD_ORIGIN)
    assert status == 204
    assert headers["access-control-allow-origin"] == GOOD_ORIGIN

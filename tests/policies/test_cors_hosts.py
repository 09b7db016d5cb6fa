"""CORS allow-lists, ALLOWED_HOSTS and USE_X_FORWARDED_HOST, over real sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from support import ServerProcess, parse_response, raw_exchange

APP = "https://app.example"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    port_settings = {
        "main": {"ALLOWED_HOSTS": ["example.com", ".example.org", "127.0.0.1"]},
        "open": {"CORS_ALLOWED_ORIGINS": "*"},  # the alias, and a single string
        "proxied": {"USE_X_FORWARDED_HOST": True, "ALLOWED_HOSTS": ["public.example"]},
        "local": {"ALLOWED_HOSTS": []},
    }
    process = ServerProcess(
        "configured_app.py",
        tmp_path_factory.mktemp("cors-server"),
        {
            "ports": ["open", "proxied", "local"],
            "settings": {"CORS_ORIGIN_WHITELIST": [APP, "http://localhost:3000"]},
        },
        env={
            "HWEBSERVER_TEST_PORT_SETTINGS": json.dumps(port_settings),
            "HWEBSERVER_TEST_ECHO_PORTS": json.dumps(["open", "proxied", "local"]),
        },
        expect_ports=("main", "open", "proxied", "local"),
    )
    with process:
        yield process


def preflight(client: httpx.Client, url: str, origin: str) -> httpx.Response:
    return client.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "X-Token, Content-Type",
        },
    )


def vary(response: httpx.Response) -> set[str]:
    return {part.strip().lower() for part in response.headers.get("vary", "").split(",")}


def test_preflight_from_an_allowed_origin_is_answered(srv, client):
    response = preflight(client, srv.url("/echo"), APP)
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == APP
    assert "PUT" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "X-Token, Content-Type"
    assert int(response.headers["access-control-max-age"]) > 0
    assert "origin" in vary(response)
    assert "content-length" not in response.headers


def test_origins_compare_by_scheme_host_and_port(srv, client):
    response = preflight(client, srv.url("/echo"), "https://APP.example:443")
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "https://APP.example:443"
    assert preflight(client, srv.url("/echo"), "http://localhost:3000").status_code == 204
    for other in ("http://app.example", "https://app.example:8443", "http://localhost:3001"):
        assert preflight(client, srv.url("/echo"), other).status_code == 403


def test_preflight_from_another_origin_gets_no_cors_headers(srv, client):
    response = preflight(client, srv.url("/echo"), "https://evil.example")
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-methods" not in response.headers


def test_simple_request_from_an_allowed_origin(srv, client):
    response = client.get(srv.url("/echo"), headers={"Origin": APP})
    assert response.status_code == 200
    assert response.json()["method"] == "GET"  # the handler answered
    assert response.headers["access-control-allow-origin"] == APP
    assert "origin" in vary(response)


def test_simple_request_from_another_origin_is_served_without_cors_headers(srv, client):
    response = client.get(srv.url("/echo"), headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert "origin" in vary(response)
    plain = client.get(srv.url("/hello"))
    assert "access-control-allow-origin" not in plain.headers
    assert "origin" in vary(plain)


def test_options_without_a_cors_request_method_reaches_the_handler(srv, client):
    response = client.options(srv.url("/echo"), headers={"Origin": APP})
    assert response.status_code == 200
    assert response.json()["method"] == "OPTIONS"


def test_star_allows_every_origin(srv, client):
    response = preflight(client, srv.url("/echo", "open"), "https://anyone.example")
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    simple = client.get(srv.url("/hello", "open"), headers={"Origin": "https://x.example"})
    assert simple.headers["access-control-allow-origin"] == "*"


def test_an_extra_port_inherits_the_main_cors_list(srv, client):
    # "local" sets no CORS list of its own: the run(settings=...) list applies.
    response = client.get(srv.url("/hello", "local"), headers={"Origin": APP, "Host": "localhost"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP


def host_status(port: int, host: bytes, extra: bytes = b"") -> tuple[int, bytes]:
    data = raw_exchange(
        port,
        b"GET /echo HTTP/1.1\r\nHost: " + host + b"\r\n" + extra + b"Connection: close\r\n\r\n",
    )
    status, _, body = parse_response(data)
    return status, body


@pytest.mark.parametrize(
    "host",
    [
        b"example.com",
        b"example.com:8080",
        b"EXAMPLE.COM",
        b"example.com.",
        b"a.example.org",
        b"deep.sub.example.org:1",
        b"example.org",
        b"127.0.0.1",
    ],
)
def test_allowed_hosts_accepts_listed_hosts(srv, host):
    status, _ = host_status(srv.port, host)
    assert status == 200


@pytest.mark.parametrize(
    "host",
    [
        b"evil.com",
        b"badexample.com",
        b"example.com.evil",
        b"xexample.org",
        b"localhost",
        b"[::1]",
    ],
)
def test_allowed_hosts_refuses_others_with_400(srv, host):
    status, body = host_status(srv.port, host)
    assert status == 400
    assert b"not allowed" in body


def test_empty_allowed_hosts_means_loopback_names_only(srv):
    port = srv.ports["local"]
    for host in (b"localhost", b"localhost:80", b"app.localhost", b"127.0.0.1", b"[::1]:8"):
        assert host_status(port, host)[0] == 200, host
    assert host_status(port, b"example.com")[0] == 400


def test_use_x_forwarded_host(srv):
    port = srv.ports["proxied"]
    status, body = host_status(
        port, b"127.0.0.1", b"X-Forwarded-Host: public.example\r\nX-Forwarded-Proto: https\r\n"
    )
    assert status == 200
    echoed = json.loads(body)
    assert echoed["host"] == "public.example"
    assert echoed["secure"] is True
    assert echoed["absolute"] == "https://public.example/echo"
    # the Host header alone is not on that port's list
    assert host_status(port, b"public.example.net")[0] == 400
    assert host_status(port, b"127.0.0.1", b"X-Forwarded-Host: evil.example\r\n")[0] == 400


def test_forwarded_headers_are_ignored_where_not_enabled(srv):
    status, body = host_status(
        srv.port,
        b"example.com",
        b"X-Forwarded-Host: public.example\r\nX-Forwarded-Proto: https\r\n",
    )
    assert status == 200
    echoed = json.loads(body)
    assert echoed["host"] == "example.com"
    assert echoed["secure"] is False

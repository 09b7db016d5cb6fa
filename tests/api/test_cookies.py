"""Cookies over real sockets: Request.cookies() and Response.setCookie with every attribute."""

from __future__ import annotations

import httpx
import pytest
from support import raw_exchange, server


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with server(tmp_path_factory.mktemp("cookies"), "forms_app.py") as process:
        yield process


def get_with_headers(port: int, path: str, *headers: str) -> bytes:
    lines = "".join(f"{header}\r\n" for header in headers)
    request = f"GET {path} HTTP/1.1\r\nHost: t\r\n{lines}Connection: close\r\n\r\n"
    return raw_exchange(port, request.encode())


def test_cookie_header_is_parsed(srv):
    response = httpx.get(
        srv.url("/cookies"),
        headers={"Cookie": 'a=1; b="quoted value"; c=two%20words; d=; e=x=y;  f = spaced ;bad'},
    )
    assert response.json() == {
        "a": "1",
        "b": "quoted value",
        "c": "two words",
        "d": "",
        "e": "x=y",
        "f": "spaced",
    }


def test_no_cookie_header_is_an_empty_dict(srv):
    assert httpx.get(srv.url("/cookies")).json() == {}


def test_repeated_name_first_wins_and_split_headers_are_not_garbled(srv):
    response = get_with_headers(srv.port, "/cookies", "Cookie: a=1; b=2; a=3", "Cookie: c=4")
    body = response.partition(b"\r\n\r\n")[2]
    assert body == b'{"a": "1", "b": "2", "c": "4"}'


def test_set_cookie_with_every_attribute_sends_one_header_each(srv):
    response = get_with_headers(srv.port, "/set-cookies")
    head = response.partition(b"\r\n\r\n")[0].decode("latin-1")
    cookies = [
        line[len("Set-Cookie: ") :] for line in head.split("\r\n") if line.startswith("Set-Cookie:")
    ]
    assert cookies == [
        "plain=1; Path=/",
        "full=two%20words%3B%20%22quoted%22%2C%20100%25%20%5C%20%C3%A9; Max-Age=3600; "
        "Expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/app; Domain=example.com; Secure; "
        "HttpOnly; SameSite=Strict",
        "stamp=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        "delta=y; Max-Age=120; Path=/; SameSite=None",
        "raw=header; Path=/",
    ]


def test_a_cookie_set_by_the_server_comes_back_unchanged(srv):
    with httpx.Client(base_url=srv.url("/")) as client:
        response = client.get("/set-cookies")
        assert len(response.headers.get_list("set-cookie")) == 5
        # The client stores the cookies valid for this host and path, and sends them back.
        echoed = client.get("/cookies").json()
    assert echoed == {"plain": "1", "delta": "y", "raw": "header"}
    value = 'two words; "quoted", 100% \\ é'
    sent_back = client_cookie_header("full", response.headers.get_list("set-cookie")[1])
    echoed = httpx.get(srv.url("/cookies"), headers={"Cookie": sent_back}).json()
    assert echoed == {"full": value}


def client_cookie_header(name: str, set_cookie: str) -> str:
    """What a browser sends back for a Set-Cookie: the name=value pair, verbatim."""
    pair = set_cookie.split(";", 1)[0]
    assert pair.startswith(name + "=")
    return pair


def test_invalid_cookies_are_refused_with_value_error(srv):
    errors = httpx.get(srv.url("/bad-cookies")).json()
    assert set(errors) == {"name", "non_ascii_name", "samesite", "path", "domain", "expires"}
    assert "Injected" not in httpx.get(srv.url("/bad-cookies")).headers

"""Request, Response and helper objects on their own (no sockets)."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest

import hwebserver
from hwebserver.api.internal.connection import ConnectionInfo
from hwebserver.api.internal.headers import Headers


def make_request(headers=(), target=b"/p?a=1&a=2&b=", method="GET", settings=None, tls=False):
    conn = ConnectionInfo(("10.0.0.1", 5555), ("127.0.0.1", 8008), "main", tls, settings or {})
    path = target.split(b"?")[0].decode()
    query = target.partition(b"?")[2]
    raw = [(name.encode(), value.encode()) for name, value in headers]
    return hwebserver.Request(conn, method, target, path, query, raw, "1.1")


def test_content_type_is_the_first_one_whether_or_not_headers_were_read():
    def request() -> hwebserver.Request:
        return make_request([("Content-Type", "text/plain"), ("content-type", "text/html")])

    assert request().contentType() == "text/plain"
    read_first = request()
    assert read_first.headers()["Content-Type"] == "text/plain, text/html"
    assert read_first.contentType() == "text/plain"
    assert make_request().contentType() == ""


def test_headers_are_case_insensitive_and_repeated_joined():
    request = make_request([("X-Thing", "1"), ("x-thing", "2"), ("Host", "h:1")])
    headers = request.headers()
    assert headers["x-thing"] == "1, 2"
    assert headers["X-THING"] == "1, 2"
    assert "HOST" in headers and headers.get("host") == "h:1"
    assert json.loads(json.dumps(headers)) == {"X-Thing": "1, 2", "Host": "h:1"}


def test_query_last_value_wins_and_blank_values_kept():
    request = make_request()
    assert request.GET() == {"a": "2", "b": ""}
    assert request.queryString() == "a=1&a=2&b="
    assert request.pathWithQueryString() == "/p?a=1&a=2&b="


@pytest.mark.parametrize(
    "query",
    [b"a=1&&flag&k=v=w&a=3", b"x=%C3%A9&y=a+b&x=2", b"plain=\xc3\xa9&=v&;", b"", b"&&"],
)
def test_query_parsing_matches_parse_qsl_with_or_without_escapes(query):
    request = make_request(target=b"/p?" + query)
    expected = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    assert request.GET() == expected


def test_absolute_uri_and_forwarded_host_only_when_trusted():
    request = make_request([("Host", "svc:8008"), ("X-Forwarded-Host", "public.example")])
    assert request.absoluteURI() == "http://svc:8008/p?a=1&a=2&b="
    assert request.absoluteURI("/x/y") == "http://svc:8008/x/y"
    trusted = make_request(
        [("Host", "svc"), ("X-Forwarded-Host", "pub.example"), ("X-Forwarded-Proto", "https")],
        settings={"USE_X_FORWARDED_HOST": True},
    )
    assert trusted.host() == "pub.example"
    assert trusted.isSecure()
    assert not request.isSecure()
    assert make_request(tls=True).isSecure()


def test_cookies_parse_leniently():
    request = make_request([("Host", "h"), ("Cookie", 'a=1; b="quoted"; junk; c=x=y')])
    assert request.cookies() == {"a": "1", "b": "quoted", "c": "x=y"}


def test_response_str_gets_charset_and_bytes_do_not():
    assert hwebserver.Response("hé").headers()["Content-Type"] == "text/html; charset=utf-8"
    assert hwebserver.Response("hé").body() == "hé".encode()
    assert (
        hwebserver.Response(b"x", content_type="text/plain").headers()["Content-Type"]
        == "text/plain"
    )
    assert (
        hwebserver.Response("{}", content_type="application/json").headers()["Content-Type"]
        == "application/json; charset=utf-8"
    )


def test_response_methods():
    response = hwebserver.Response("abc", status=404)
    assert response.status() == 404
    assert response.statusLabel() == "404 Not Found"
    assert response.contentLength() == 3
    assert not response.isChunked()
    response.setBody(b"xy", "application/octet-stream")
    assert response.body() == b"xy"
    assert response.headers()["Content-Type"] == "application/octet-stream"
    streamed = hwebserver.Response(iter([b"a", "b"]))
    assert streamed.isChunked()


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nb", "a\rb"])
def test_header_values_with_crlf_are_refused(value):
    with pytest.raises(ValueError):
        hwebserver.Response("x").setHeader("X-Test", value)


def test_set_header_replaces_but_set_cookie_adds():
    response = hwebserver.Response("x")
    response.setHeader("X-A", "1")
    response.setHeader("x-a", "2")
    response.setHeader("Set-Cookie", "a=1")
    response.setHeader("Set-Cookie", "b=2")
    assert response.headers()["x-a"] == "2"
    assert response.headers()["Set-Cookie"] == "a=1, b=2"


def test_set_cookie_attributes():
    response = hwebserver.Response("x")
    response.setCookie(
        "sid",
        "a b;c",
        max_age=10,
        path="/p",
        domain="example.com",
        secure=True,
        httponly=True,
        samesite="strict",
        expires=0,
    )
    cookie = response.cookie_lines[0]
    assert cookie.startswith("sid=a%20b%3Bc; ")
    for part in (
        "Max-Age=10",
        "Path=/p",
        "Domain=example.com",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    ):
        assert part in cookie
    with pytest.raises(ValueError):
        response.setCookie("bad name", "x")
    with pytest.raises(ValueError):
        response.setCookie("a", "x", samesite="sometimes")


def test_error_response_json_or_escaped_html():
    json_request = make_request([("Host", "h"), ("Accept", "text/html, application/json")])
    response = hwebserver.errorResponse(json_request, {"detail": 1}, 409)
    assert response.status() == 409
    assert json.loads(response.body()) == {"error": {"detail": 1}}
    html_request = make_request([("Host", "h"), ("Accept", "text/html")])
    page = hwebserver.errorResponse(html_request, "<script>x</script>", 400).body().decode()
    assert "<h1>&lt;script&gt;x&lt;/script&gt;</h1>" in page
    plain = hwebserver.errorResponse(html_request, "msg", use_heading=False).body().decode()
    assert "<h1>" not in plain and "msg" in plain


def test_not_found_and_redirect():
    request = make_request([("Host", "svc:1")], target=b"/a/b")
    assert hwebserver.notFoundResponse(request).status() == 404
    assert "/a/b" in hwebserver.notFoundResponse(request).body().decode()
    moved = hwebserver.redirect(request, "../c", permanent=True)
    assert moved.status() == 301
    assert moved.headers()["Location"] == "http://svc:1/c"
    assert hwebserver.redirect(request, "/z").status() == 302


def test_file_response_guesses_type_and_content_disposition(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("{}")
    response = hwebserver.fileResponse(str(path), download_as_filename='rép"ort.json')
    headers = response.headers()
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Disposition"] == (
        "attachment; filename=\"r_p_ort.json\"; filename*=UTF-8''r%C3%A9p%22ort.json"
    )
    assert hwebserver.fileResponse(str(tmp_path / "x.unknownext")).headers()["Content-Type"] == (
        "application/octet-stream"
    )
    assert response.contentLength() == 2


def test_headers_dict_copy_keeps_case_insensitivity():
    headers = Headers({"Content-Type": "a"})
    assert headers.copy()["content-type"] == "a"


def test_a_response_whose_only_header_is_not_content_type_is_sent(tmp_path):
    """The fast head path must not assume the one header is Content-Type."""
    import httpx
    from support import server

    with server(tmp_path, script="echo_app.py") as srv:
        response = httpx.get(srv.url("/only-header"))
    assert response.status_code == 200
    assert response.headers["x-only"] == "1"
    assert "content-type" not in response.headers


def test_the_simple_flag_follows_every_change_that_leaves_the_plain_shape():
    """The server's fast head path relies on _simple; each mutator must clear it."""
    assert hwebserver.Response("x").is_simple
    assert hwebserver.Response(b"x", content_type="text/plain").is_simple
    assert not hwebserver.Response("x", status=204).is_simple
    assert not hwebserver.Response(iter([b"x"])).is_simple
    changes = [
        lambda r: r.setHeader("X-A", "1"),
        lambda r: r.setCookie("a", "1"),
        lambda r: r.setHeader("Set-Cookie", "a=1"),
        lambda r: r.removeHeader("Content-Type"),
        lambda r: r.setStatus(304),
        lambda r: r.setBody(b"y"),
    ]
    for change in changes:
        response = hwebserver.Response("x")
        change(response)
        assert not response.is_simple
    kept = hwebserver.Response("x")
    kept.setHeader("Content-Type", "text/plain")
    assert kept.is_simple

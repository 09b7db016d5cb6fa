"""What a handler's response carries, over real sockets: every header and status goes through
one check whatever the path (content_type, setHeader, setBody, cookies, redirects, files,
streams, WSGI and ASGI apps), bodiless statuses send no body, and hostile numbers in request
headers are not server errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import ServerProcess, parse_response, raw_exchange, wait_for

FILE_SIZE = 1000  # tests/apps/response_headers_app.py serves /static/thousand.txt
SPLITTING = [
    "text/html%0d%0a%0d%0a<script>alert(1)</script>",  # a body of the attacker's
    "text/html%0d%0aSet-Cookie:%20evil=1",  # a header of the attacker's
    "text/html%0aSet-Cookie:%20evil=1",
    "text/html%0dSet-Cookie:%20evil=1",
]
CONTROL_CHARACTERS = ["%00", "%01", "%08", "%0b", "%0c", "%1f", "%7f"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess("response_headers_app.py", tmp_path_factory.mktemp("headers")) as process:
        yield process


def get(srv: ServerProcess, target: str, extra: bytes = b"", method: str = "GET") -> bytes:
    """Every byte the server sends for one request, on a connection it closes after."""
    request = (
        f"{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n".encode("latin-1")
        + extra
        + b"\r\n"
    )
    return raw_exchange(srv.port, request)


def assert_refused(srv: ServerProcess, raw: bytes, *absent: bytes) -> None:
    """One response, a 500, none of the injected bytes in it, and the server still serves."""
    assert raw.count(b"HTTP/1.1 ") == 1, raw
    assert raw.startswith(b"HTTP/1.1 500 "), raw
    for text in absent:
        assert text not in raw, raw
    status, _, body = parse_response(get(srv, "/after"))
    assert (status, body) == (200, b"still serving")


def head_and_body(raw: bytes) -> tuple[str, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


# -- splitting a response through content_type --------------------------------------------------
@pytest.mark.parametrize("kind", ["str", "bytes", "stream", "file", "set-body"])
@pytest.mark.parametrize("chosen", SPLITTING)
def test_a_content_type_from_the_client_cannot_split_the_response(
    srv: ServerProcess, kind: str, chosen: str
) -> None:
    raw = get(srv, f"/content-type?kind={kind}&t={chosen}")
    assert_refused(srv, raw, b"<script>", b"evil")


def test_a_refused_content_type_is_a_value_error_in_the_log_naming_the_header(
    srv: ServerProcess,
) -> None:
    get(srv, "/content-type?t=text/plain%0d%0aX-Mark:%20logged")
    wait_for(lambda: "'Content-Type': invalid value 'text/plain\\r\\nX-Mark: logged'" in srv.logs())
    assert "ValueError" in srv.logs()


@pytest.mark.parametrize("kind", ["str", "bytes", "stream", "file", "set-body"])
def test_a_good_content_type_still_goes_out_on_every_path(srv: ServerProcess, kind: str) -> None:
    status, headers, _ = parse_response(get(srv, f"/content-type?kind={kind}&t=image/svg%2Bxml"))
    assert status == 200
    assert headers["content-type"] == "image/svg+xml"


# -- header values and names --------------------------------------------------------------------
@pytest.mark.parametrize("control", [*CONTROL_CHARACTERS, "%0d%0aInjected:%201", "%0a"])
def test_a_header_value_with_a_control_character_is_refused(
    srv: ServerProcess, control: str
) -> None:
    raw = get(srv, f"/header?v=before{control}after")
    assert_refused(srv, raw, b"before")


def test_a_header_value_may_hold_tabs_and_bytes_above_ascii(srv: ServerProcess) -> None:
    raw = get(srv, "/header?v=a%09b%C3%A9")
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nX-Echo: a\tb\xe9\r\n" in raw


@pytest.mark.parametrize("name", ["X(A)", "X%20A", "X:A", "%C3%A9", "X@A", "X%0d%0aY", ""])
def test_a_header_name_that_is_not_a_token_is_refused(srv: ServerProcess, name: str) -> None:
    assert_refused(srv, get(srv, f"/header?n={name}&v=1"))


def test_a_token_name_with_every_allowed_punctuation_goes_out(srv: ServerProcess) -> None:
    raw = get(srv, "/header?n=X-!%23$%25%26'*%2B.^_`|~9&v=1")
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nX-!#$%&'*+.^_`|~9: 1\r\n" in raw


@pytest.mark.parametrize(
    "query", ["path=/a%01b", "path=/a%0d%0aX:%201", "expires=Thu%01", "expires=Thu%0d%0aX:%201"]
)
def test_a_cookie_attribute_with_a_control_character_is_refused(
    srv: ServerProcess, query: str
) -> None:
    assert_refused(srv, get(srv, f"/cookie?{query}"), b"X: 1")


def test_a_cookie_value_with_control_characters_is_encoded_not_refused(
    srv: ServerProcess,
) -> None:
    raw = get(srv, "/cookie?v=a%0d%0aSet-Cookie:%20evil=1")
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nSet-Cookie: session=a%0D%0ASet-Cookie:%20evil=1; Path=/\r\n" in raw


def test_a_redirect_to_a_target_with_a_control_character_is_refused(srv: ServerProcess) -> None:
    assert_refused(srv, get(srv, "/redirect?to=/a%01b"), b"/a\x01b")


def test_a_redirect_to_a_plain_target_goes_out(srv: ServerProcess) -> None:
    status, headers, _ = parse_response(get(srv, "/redirect?to=/elsewhere"))
    assert (status, headers["location"]) == (302, "http://test/elsewhere")


# -- statuses -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["str", "bytes", "stream", "file", "set"])
@pytest.mark.parametrize("code", [0, 99, 600, 1000, -200])
def test_a_status_outside_100_to_599_is_refused(srv: ServerProcess, kind: str, code: int) -> None:
    raw = get(srv, f"/status?s={code}&kind={kind}")
    assert_refused(srv, raw, f" {code} ".encode())


def test_a_status_at_the_edges_of_the_range_goes_out(srv: ServerProcess) -> None:
    assert get(srv, "/status?s=599").startswith(b"HTTP/1.1 599 ")
    assert get(srv, "/status?s=200&kind=set").startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("kind", ["str", "bytes", "stream", "file", "set"])
@pytest.mark.parametrize("code", [100, 103, 199, 204, 304])
def test_a_bodiless_status_sends_no_body(srv: ServerProcess, kind: str, code: int) -> None:
    raw = get(srv, f"/status?s={code}&kind={kind}")
    head, body = head_and_body(raw)
    assert head.startswith(f"HTTP/1.1 {code} ")
    assert body == b"", raw
    assert "must not be sent" not in raw.decode("latin-1")
    lowered = head.lower()
    assert "transfer-encoding" not in lowered
    if code != 304:  # a 304 may announce the length a 200 would have; 1xx and 204 may not
        assert "content-length" not in lowered


@pytest.mark.parametrize("kind", ["str", "bytes", "stream", "file", "set"])
@pytest.mark.parametrize("code", [100, 103])
def test_a_final_1xx_closes_the_connection(srv: ServerProcess, kind: str, code: int) -> None:
    """A client takes a 1xx for an interim answer: kept alive, it would wait for another."""
    request = f"GET /status?s={code}&kind={kind} HTTP/1.1\r\nHost: test\r\n\r\n".encode()
    raw = raw_exchange(srv.port, request, timeout=10)  # read until the server closes
    head, _ = head_and_body(raw)
    assert head.startswith(f"HTTP/1.1 {code} ")
    assert "connection: close" in head.lower()


# -- WSGI and ASGI apps follow the same rules -----------------------------------------------------
@pytest.mark.parametrize("mount", ["/wsgi", "/asgi"])
@pytest.mark.parametrize(
    "query",
    [
        "v=a%01b",
        "v=a%7fb",
        "v=a%0bb",
        "v=a%0d%0aSet-Cookie:%20evil=1",
        "n=X(A)&v=1",
        "n=X%20A&v=1",
        "s=1000",
        "s=99",
        "s=000",
    ],
)
def test_an_app_s_bad_header_or_status_is_a_500_not_sent(
    srv: ServerProcess, mount: str, query: str
) -> None:
    raw = get(srv, f"{mount}/?{query}")
    assert_refused(srv, raw, b"evil", b"X(A)", b"X A", b"a\x01b", b"a\x7fb", b"a\x0bb")
    assert b"wsgi body" not in raw and b"asgi body" not in raw


UPGRADE = (
    b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


@pytest.mark.parametrize("query", ["v=a%0d%0aSet-Cookie:%20evil=1", "v=a%01b", "n=X(A)&v=1"])
def test_an_asgi_websocket_accepted_with_a_bad_header_is_a_500_not_a_101(
    srv: ServerProcess, query: str
) -> None:
    raw = raw_exchange(
        srv.port,
        f"GET /asgi/ws?{query} HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\n".encode()
        + UPGRADE
        + b"\r\n",
    )
    assert_refused(srv, raw, b"evil", b"X(A)", b"a\x01b")


def test_an_asgi_websocket_accepted_with_a_good_header_sends_it_in_its_101(
    srv: ServerProcess,
) -> None:
    raw = raw_exchange(
        srv.port,
        b"GET /asgi/ws?n=X-Ok&v=a%09b HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\n"
        + UPGRADE
        + b"\r\n",
        # The client never answers the app's Close: the server cuts it after CLOSE_TIMEOUT (10 s).
        timeout=30,
    )
    assert raw.startswith(b"HTTP/1.1 101 ")
    assert b"\r\nX-Ok: a\tb\r\n" in raw


@pytest.mark.parametrize("length", ["-5", "%2B9", "1_0", "9" * 40, "x"])
def test_a_wsgi_app_s_content_length_must_be_a_byte_count(srv: ServerProcess, length: str) -> None:
    assert_refused(srv, get(srv, f"/wsgi/?cl={length}"), b"wsgi body")


@pytest.mark.parametrize("mount", ["/wsgi", "/asgi"])
@pytest.mark.parametrize("code", [204, 304])
def test_an_app_s_bodiless_status_sends_no_body(srv: ServerProcess, mount: str, code: int) -> None:
    head, body = head_and_body(get(srv, f"{mount}/?s={code}"))
    assert head.startswith(f"HTTP/1.1 {code} ")
    assert body == b""


@pytest.mark.parametrize("mount", ["/wsgi", "/asgi"])
def test_an_app_s_informational_status_is_a_500(srv: ServerProcess, mount: str) -> None:
    """Not an answer (see test_security_round3.py): the server's 500 replaces it."""
    head, _ = head_and_body(get(srv, f"{mount}/?s=100"))
    assert head.startswith("HTTP/1.1 500 ")
    assert "\r\nConnection: close\r\n" in head


@pytest.mark.parametrize("mount", ["/wsgi", "/asgi"])
def test_an_app_s_good_header_goes_out(srv: ServerProcess, mount: str) -> None:
    raw = get(srv, f"{mount}/?n=X-Ok&v=a%09b")
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nX-Ok: a\tb\r\n" in raw


# -- hostile numbers in request headers -----------------------------------------------------------
HUGE = "9" * 5000  # past Python's int() digit limit: a ValueError where not guarded


def static_answer(srv: ServerProcess, **headers: str) -> tuple[int, dict[str, str], bytes]:
    extra = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
    return parse_response(get(srv, "/static/thousand.txt", extra.encode("latin-1")))


@pytest.mark.parametrize(
    ("value", "status", "content_range"),
    [
        (f"bytes=0-{HUGE}", 206, f"bytes 0-{FILE_SIZE - 1}/{FILE_SIZE}"),  # to the end
        (f"bytes=-{HUGE}", 206, f"bytes 0-{FILE_SIZE - 1}/{FILE_SIZE}"),  # the last N: all
        (f"bytes={HUGE}-", 416, f"bytes */{FILE_SIZE}"),  # starts past the end
        (f"bytes={HUGE}-{HUGE}", 416, f"bytes */{FILE_SIZE}"),
        (f"bytes=10-{'0' * 5000}19", 206, f"bytes 10-19/{FILE_SIZE}"),  # leading zeros
        (f"bytes={'0' * 5000}10-19", 206, f"bytes 10-19/{FILE_SIZE}"),
    ],
)
def test_a_range_with_thousands_of_digits_is_answered_not_a_server_error(
    srv: ServerProcess, value: str, status: int, content_range: str
) -> None:
    logged_before = len(srv.logs())
    got_status, headers, body = static_answer(srv, Range=value)
    assert got_status == status
    assert headers["content-range"] == content_range
    if status == 206:
        first, last = (int(n) for n in content_range.split()[1].split("/")[0].split("-"))
        assert body == (b"0123456789" * 100)[first : last + 1]
    assert "Traceback" not in srv.logs()[logged_before:]


@pytest.mark.parametrize(
    "date",
    [
        "Sat, 01 Jan 2000 00:00:00 +99999999999999999999",  # OverflowError in the email parser
        f"Sat, 01 Jan {HUGE} 00:00:00 GMT",
        f"Sat, 01 Jan 2000 00:00:00 -{HUGE}",
        "Sat, 01 Jan 99999 00:00:00 GMT",
        "Sat, 99 Jan 2000 99:99:99 GMT",
    ],
)
def test_a_malformed_date_in_a_conditional_header_is_ignored(srv: ServerProcess, date: str) -> None:
    logged_before = len(srv.logs())
    status, _, body = static_answer(srv, If_Modified_Since=date)
    assert (status, len(body)) == (200, FILE_SIZE)
    status, _, body = static_answer(srv, If_Range=date, Range="bytes=0-9")
    assert (status, len(body)) == (200, FILE_SIZE)  # If-Range does not hold: the whole file
    assert "Traceback" not in srv.logs()[logged_before:]

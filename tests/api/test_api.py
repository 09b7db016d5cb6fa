"""API functions over real sockets: wire formats, results, errors, dispatch, named ports."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os

import httpx
import pytest
from multipart_bodies import CONTENT_TYPE, body, field_part, file_part
from support import ServerProcess, wait_for

import hwebserver.apiclient

THRESHOLD = 4096


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    process = ServerProcess(
        "api_app.py",
        tmp_path_factory.mktemp("api"),
        {"max_in_memory_file_upload_size": THRESHOLD},
        expect_ports=("main", "admin", "other"),
    )
    with process:
        yield process


def api(srv, port_name: str = "main") -> str:
    return srv.url("/api", port_name)


def call_json(srv, *triple, port_name: str = "main") -> httpx.Response:
    return httpx.post(api(srv, port_name), json=list(triple))


# -- the three wire formats ----------------------------------------------------------------
def test_form_fields_with_cmd_function(srv):
    response = httpx.post(
        api(srv), data={"cmd_function": "geo.vector_length", "x": "1", "y": "2", "z": "2"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == 3.0


def test_form_fields_are_strings_and_files_are_uploads(srv):
    response = httpx.post(
        api(srv),
        data={"cmd_function": "describe_file", "label": "42"},
        files={"data": ("d.bin", b"abc")},
    )
    assert response.json()["label"] == "42"
    assert response.json()["name"] == "d.bin"
    assert response.json()["size"] == 3


def test_json_form_field_urlencoded(srv):
    call = json.dumps(["echo", [1, "two", [3]], {"k": {"nested": True}}])
    response = httpx.post(api(srv), data={"json": call})
    assert response.json() == {"args": [1, "two", [3]], "kwargs": {"k": {"nested": True}}}


def test_json_form_field_in_multipart_with_file_parts(srv):
    payload = os.urandom(1000)
    response = httpx.post(
        api(srv),
        data={"json": json.dumps(["describe_file", [], {"label": "multi"}])},
        files={"data": ("payload.bin", payload)},
    )
    result = response.json()
    assert result["label"] == "multi"
    assert result["sha256"] == hashlib.sha256(payload).hexdigest()
    assert result["in_memory"] is True


def test_json_body(srv):
    assert call_json(srv, "aio.add", [2], {"b": 40}).json() == 42
    assert call_json(srv, "ping").json() == "pong"
    assert call_json(srv, "echo", ["only args"]).json() == {"args": ["only args"], "kwargs": {}}


def test_namespaces(srv):
    assert call_json(srv, "geo.vector_length", [3, 4, 0]).json() == 5.0
    assert call_json(srv, "vector_length", [3, 4, 0]).status_code == 404


# -- results ---------------------------------------------------------------------------------
def test_binary_results(srv):
    response = call_json(srv, "binary", [512])
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == bytes(range(256)) * 2
    response = call_json(srv, "text_as_binary")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == "héllo".encode()


def test_binary_in_and_out(srv):
    payload = os.urandom(3000)
    response = httpx.post(
        api(srv), data={"cmd_function": "reverse_bytes"}, files={"data": ("x", payload)}
    )
    assert response.content == payload[::-1]


def test_response_is_sent_as_is(srv):
    response = call_json(srv, "page")
    assert response.status_code == 201
    assert response.text == "<b>as is</b>"
    assert response.headers["content-type"].startswith("text/html")


def test_sync_and_async_functions(srv):
    assert call_json(srv, "aio.add", ["a", "b"]).json() == "ab"
    assert call_json(srv, "repeat", ["ab"], {"count": "3"}).json() == "ababab"


# -- errors ----------------------------------------------------------------------------------
def assert_error(response: httpx.Response, status: int, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert fragment in str(message), message


def test_api_error_default_and_custom_status(srv):
    assert_error(call_json(srv, "refuse"), 422, "refused")
    assert_error(call_json(srv, "refuse", [409]), 409, "refused with a status")
    response = call_json(srv, "aio.fail")
    assert response.status_code == 409
    assert response.json() == {"error": {"reason": "async refusal"}}


def test_unknown_function_is_404(srv):
    assert_error(call_json(srv, "no.such.function"), 404, "no.such.function")


@pytest.mark.parametrize(
    ("request_kwargs", "fragment"),
    [
        (
            {"content": b"[not json", "headers": {"Content-Type": "application/json"}},
            "not valid JSON",
        ),
        ({"json": {"name": "ping"}}, "[name, [args...], {kwargs...}]"),
        ({"json": []}, "[name, [args...], {kwargs...}]"),
        ({"json": [1, [], {}]}, "non-empty string"),
        ({"json": ["ping", {}, {}]}, "JSON array"),
        ({"json": ["ping", [], []]}, "JSON object"),
        ({"data": {"json": "{"}}, "json field is not valid JSON"),
        ({"data": {"something": "else"}}, "neither a cmd_function nor a json field"),
        ({"content": b"ping", "headers": {"Content-Type": "text/plain"}}, "not of text/plain"),
        ({"content": b""}, "without a Content-Type"),
    ],
)
def test_malformed_requests_are_400(srv, request_kwargs, fragment):
    assert_error(httpx.post(api(srv), **request_kwargs), 400, fragment)


def test_malformed_multipart_to_api_is_json_400(srv):
    response = httpx.post(
        api(srv), content=field_part("json", "[]"), headers={"Content-Type": CONTENT_TYPE}
    )
    assert_error(response, 400, "closing boundary")


def test_arguments_that_do_not_bind_are_400(srv):
    assert_error(call_json(srv, "geo.vector_length", [1, 2]), 400, "missing a required argument")
    assert_error(call_json(srv, "ping", [1]), 400, "too many positional arguments")
    assert_error(call_json(srv, "ping", [], {"w": 1}), 400, "unexpected keyword argument")
    assert_error(call_json(srv, "ping", [], {"request": 1}), 400, "multiple values")
    payload = body(field_part("json", json.dumps(["describe_file", [], {"data": 1}])),
                   file_part("data", "d", b"x"))  # fmt: skip
    response = httpx.post(api(srv), content=payload, headers={"Content-Type": CONTENT_TYPE})
    assert_error(response, 400, "both as a value and as a file")


def test_a_wrapped_function_is_called_with_the_wrappers_signature(srv):
    """functools.wraps sets __wrapped__: the arguments bind to the wrapper the server calls,
    `(request, **kwargs)`, not to the function it hides; by form, JSON body and apiclient."""
    assert call_json(srv, "t.hello_wrapped", [], {"name": "you"}).json() == {"hello": "you"}
    assert call_json(srv, "t.hello_wrapped", [], {}).json() == {"hello": "world"}
    assert call_json(srv, "t.ping_wrapped", [], {}).json() == "pong"
    form = httpx.post(api(srv), data={"cmd_function": "t.hello_wrapped", "name": "you"})
    assert form.json() == {"hello": "you"}
    assert httpx.post(api(srv), data={"cmd_function": "t.ping_wrapped"}).json() == "pong"
    service = hwebserver.apiclient.Service(api(srv))
    assert service.t.hello_wrapped(name="you") == {"hello": "you"}
    assert service.t.ping_wrapped() == "pong"
    # A real mismatch with the wrapper is still a 400 with today's message.
    assert_error(
        call_json(srv, "t.ping_wrapped", [1]),
        400,
        "arguments do not match t.ping_wrapped(request, **kwargs): too many positional arguments",
    )


def test_failed_conversion_is_400_naming_the_argument(srv):
    response = httpx.post(
        api(srv), data={"cmd_function": "geo.vector_length", "x": "1", "y": "two", "z": "3"}
    )
    assert_error(response, 400, "argument 'y'")
    assert_error(call_json(srv, "repeat", ["a"], {"count": "many"}), 400, "argument 'count'")


def test_other_exceptions_are_500_without_the_traceback(srv):
    response = call_json(srv, "crash")
    assert_error(response, 500, "Internal Server Error")
    assert "secret-detail" not in response.text
    assert "API function crash raised RuntimeError" in srv.logs()


def test_unencodable_result_is_500_and_logged(srv):
    assert_error(call_json(srv, "unencodable"), 500, "cannot be sent as JSON")
    wait_for(lambda: "API function unencodable returned a set" in srv.logs())


def test_get_is_405_json(srv):
    for method in ("GET", "PUT", "DELETE"):
        response = httpx.request(method, api(srv))
        assert_error(response, 405, "POST")
        assert response.headers["allow"] == "POST"


def test_traceback_only_in_debug_mode(tmp_path):
    process = ServerProcess("api_app.py", tmp_path, {"debug": True})
    try:
        process.start()
        response = httpx.post(process.url("/api"), json=["crash"])
        assert_error(response, 500, "secret-detail-in-exception")
        assert "Traceback" in response.json()["error"]
    finally:
        process.stop()


# -- ports ----------------------------------------------------------------------------------
def test_named_ports(srv):
    assert call_json(srv, "admin_only", port_name="admin").json() == "admin:admin"
    assert call_json(srv, "everywhere", port_name="admin").json() == "admin"
    assert call_json(srv, "everywhere").json() == "main"
    assert_error(call_json(srv, "admin_only"), 404, "admin_only")
    assert_error(call_json(srv, "ping", port_name="admin"), 404, "ping")
    # A port without API functions has no /api at all.
    assert httpx.post(api(srv, "other"), json=["ping"]).status_code == 404


# -- dispatch ---------------------------------------------------------------------------------
def test_a_blocking_function_never_runs_on_the_event_loop(srv):
    """After many fast calls, a blocking one still runs on a handler thread: were it called
    on the loop, release() could never be served."""
    for _ in range(20):
        assert call_json(srv, "ping").json() == "pong"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        waiting = pool.submit(lambda: httpx.post(api(srv), json=["wait_for_release"], timeout=40))
        # While it blocks its thread, other calls and handlers are still answered.
        for _ in range(5):
            assert call_json(srv, "ping").json() == "pong"
            assert httpx.get(srv.url("/hello"), timeout=10).text == "hello"
        wait_for(lambda: call_json(srv, "release").json() and waiting.done(), timeout=30)
        assert waiting.result().json() is True


def test_async_function_that_awaits(srv):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: call_json(srv, "aio.add", [i, 1]).json(), range(32)))
    assert results == [i + 1 for i in range(32)]


# -- uploads through the API ------------------------------------------------------------------
def test_large_file_argument_goes_to_disk_and_is_removed(srv):
    payload = os.urandom(THRESHOLD * 20)
    response = httpx.post(
        api(srv), data={"cmd_function": "describe_file"}, files={"data": ("big.bin", payload)}
    )
    result = response.json()
    assert result["in_memory"] is False
    assert result["size"] == len(payload)
    assert result["sha256"] == hashlib.sha256(payload).hexdigest()
    wait_for(lambda: not os.path.exists(result["path"]))

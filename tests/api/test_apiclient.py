"""hwebserver.apiclient against a real server process."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os

import pytest
from support import ServerProcess, wait_for

from hwebserver import apiclient

THRESHOLD = 4096


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    process = ServerProcess(
        "api_app.py",
        tmp_path_factory.mktemp("apiclient"),
        {"max_in_memory_file_upload_size": THRESHOLD},
        expect_ports=("main", "admin", "other"),
    )
    with process:
        yield process


@pytest.fixture
def svc(srv):
    with apiclient.Service(srv.url("/api")) as service:
        yield service


def test_positional_keyword_and_namespaced_calls(svc):
    assert svc.geo.vector_length(1, 2, 2) == 3.0
    assert svc.geo.vector_length(x=3, y=4, z=0) == 5.0
    assert svc.echo(1, "b", key=[1, {"x": None}]) == {
        "args": [1, "b"],
        "kwargs": {"key": [1, {"x": None}]},
    }
    assert svc.call("aio.add", 1, b=2) == 3
    assert svc.ping() == "pong"


def test_binary_in_and_out(svc):
    payload = os.urandom(2000)
    assert svc.reverse_bytes(data=payload) == payload[::-1]
    assert svc.reverse_bytes(data=bytearray(b"abc")) == b"cba"
    assert svc.binary(512) == bytes(range(256)) * 2
    assert svc.text_as_binary() == "héllo".encode()


def test_non_json_answers(svc):
    assert svc.page() == "<b>as is</b>"


def test_file_argument_streamed_from_disk(svc, tmp_path):
    path = tmp_path / "big input.bin"
    payload = os.urandom(THRESHOLD * 50 + 3)
    path.write_bytes(payload)
    result = svc.describe_file(data=apiclient.File(path), label="disk")
    assert result["name"] == "big input.bin"
    assert result["label"] == "disk"
    assert result["size"] == len(payload)
    assert result["sha256"] == hashlib.sha256(payload).hexdigest()
    assert result["in_memory"] is False
    wait_for(lambda: not os.path.exists(result["path"]))


def test_errors_raise_api_error_with_status_and_message(svc):
    cases = [
        (lambda: svc.refuse(), 422, "refused"),
        (lambda: svc.refuse(status=418), 418, "refused with a status"),
        (lambda: svc.aio.fail(), 409, {"reason": "async refusal"}),
        (lambda: svc.no.such.thing(), 404, "no.such.thing"),
        (lambda: svc.geo.vector_length(1), 400, "missing a required argument"),
        (lambda: svc.geo.vector_length("a", 1, 1), 400, "argument 'x'"),
        (lambda: svc.crash(), 500, "Internal Server Error"),
    ]
    for call, status, message in cases:
        with pytest.raises(apiclient.APIError) as caught:
            call()
        assert caught.value.status_code == status
        if isinstance(message, str):
            assert message in caught.value.message
        else:
            assert caught.value.message == message


def test_wrong_url_raises_api_error(srv):
    with apiclient.Service(srv.url("/no-api-here")) as service:
        with pytest.raises(apiclient.APIError) as caught:
            service.ping()
    assert caught.value.status_code == 404


def test_binary_positional_arguments_are_refused(svc):
    with pytest.raises(TypeError):
        svc.reverse_bytes(b"abc")


def test_named_port(srv):
    with apiclient.Service(srv.url("/api", "admin")) as service:
        assert service.admin_only() == "admin:admin"


def test_keep_alive_reuses_one_connection(svc):
    ports = {svc.client_port() for _ in range(20)}
    assert len(ports) == 1


def test_thread_safe(svc):
    def work(index: int) -> tuple[int, int]:
        return svc.aio.add(index, 1), svc.client_port()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(200)))
    assert [total for total, _ in results] == [i + 1 for i in range(200)]
    assert len({port for _, port in results}) <= 8  # connections are reused, not one per call


def test_reconnects_after_the_server_closed_an_idle_connection(tmp_path):
    process = ServerProcess("api_app.py", tmp_path, {"settings": {"KEEPALIVE_TIMEOUT": 1.0}})
    try:
        process.start()
        with apiclient.Service(process.url("/api")) as service:
            first = service.client_port()
            # Wait until the server's keep-alive timeout has closed the idle connection.
            idle = service._idle[0]
            wait_for(lambda: apiclient._was_closed_by_peer(idle), timeout=15)
            assert service.ping() == "pong"
            assert service.client_port() != first
    finally:
        process.stop()

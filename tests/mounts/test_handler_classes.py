"""URLHandler and AsyncURLHandler, and registerOpdefPath."""

from __future__ import annotations

import httpx
import pytest
from support import ServerProcess, wait_for


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    process = ServerProcess(
        "handlers_app.py", tmp_path_factory.mktemp("handlers"), expect_ports=("main", "extra")
    )
    try:
        process.start()
        yield process
    finally:
        process.stop()


def test_url_handler_class_registers_when_constructed(srv):
    assert httpx.get(srv.url("/exact")).text == "exact"
    assert httpx.get(srv.url("/exact/below")).status_code == 404  # allows_partial=False
    response = httpx.post(srv.url("/exact"))
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]


def test_allows_partial_matches_the_path_and_below(srv):
    assert httpx.get(srv.url("/jobs")).text == "jobs /jobs GET"
    assert httpx.get(srv.url("/jobs/42/log")).text == "jobs /jobs/42/log GET"
    assert httpx.get(srv.url("/jobsx")).status_code == 404


def test_async_handler_sends_with_request_send(srv):
    assert httpx.get(srv.url("/async/now")).text == "sent now"


def test_async_handler_may_return_before_sending(srv):
    with httpx.Client(timeout=30) as client:
        assert client.get(srv.url("/async/later")).text == "sent later"
        assert client.get(srv.url("/async/later?thread=1")).text == "sent from a thread"


def test_second_send_raises_operation_failed(srv):
    assert httpx.get(srv.url("/async/twice")).text == "first"
    report = wait_for(lambda: httpx.get(srv.url("/report?key=twice")).text)
    assert report.startswith("OperationFailed")


def test_a_request_never_sent_gets_500_and_a_log_line(srv):
    response = httpx.get(srv.url("/async/never"), timeout=30)
    assert response.status_code == 500
    wait_for(lambda: "Never for GET /async/never finished without sending" in srv.logs())
    assert httpx.get(srv.url("/async/now")).text == "sent now"  # the server carries on


def test_an_async_handler_that_raises_gets_500(srv):
    response = httpx.get(srv.url("/async/raises"))
    assert response.status_code == 500
    assert "async class handler failed" not in response.text  # no traceback without debug
    wait_for(lambda: "ValueError: async class handler failed" in srv.logs())


def test_opdef_resolver_serves_sections(srv):
    response = httpx.get(srv.url("/opdef/Sop/box?Help"))
    assert response.status_code == 200
    assert response.content == b"= Box =\nA box."
    assert response.headers["content-type"] == "application/octet-stream"
    svg = httpx.get(srv.url("/opdef/Sop/box?icon.svg"))
    assert svg.content == b"<svg/>"
    assert svg.headers["content-type"] == "image/svg+xml"


def test_opdef_none_and_no_resolver_give_404(srv):
    assert httpx.get(srv.url("/opdef/Sop/box?Nothing")).status_code == 404
    assert httpx.get(srv.url("/opdef/Object/geo?Help")).status_code == 404
    assert httpx.get(srv.url("/noresolver/Sop/box?Help")).status_code == 404


def test_opdef_on_every_port_and_a_handler_beats_it(srv):
    extra = httpx.get(srv.url("/opdef/Sop/box?Help", port_name="extra"))
    assert extra.content == b"= Box =\nA box."
    assert httpx.get(srv.url("/opdef/Sop/special")).text == "a handler beats the opdef prefix"

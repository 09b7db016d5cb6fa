"""Plain code runs on the handler threads, never on the event loop, however fast it was before.

As in Houdini (and as Starlette runs sync endpoints): a handler's past speed says nothing about
its next call, and a slow one must never stall the loop or get its worker killed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from support import ServerProcess, wait_for

THREADS = 3


@pytest.fixture
def srv(tmp_path) -> Iterator[ServerProcess]:
    static = tmp_path / "public"
    static.mkdir()
    (static / "file.txt").write_text("static content")
    process = ServerProcess(
        "threads_app.py",
        tmp_path,
        {"max_num_threads": THREADS, "settings": {"WORKER_TIMEOUT": 2}},
        env={"THREADS_APP_STATIC": str(static)},
    )
    with process:
        yield process


def call(srv: ServerProcess, client: httpx.Client, name: str, **kwargs: object) -> object:
    response = client.post(srv.url("/api"), json=[name, [], kwargs])
    assert response.status_code == 200, response.text
    return response.json()


def in_background(client_call) -> tuple[threading.Thread, dict]:  # type: ignore[no-untyped-def]
    result: dict = {}

    def run() -> None:
        result["value"] = client_call()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_fast_plain_code_stays_on_the_handler_threads(srv):
    """After many fast calls, handlers, URLHandler classes, API functions and WSGI apps still
    run on a handler thread (the learned inline dispatch once moved them onto the loop)."""
    with httpx.Client(timeout=30) as client:
        for _ in range(50):
            names = {
                client.get(srv.url("/thread")).text,
                client.get(srv.url("/class-thread")).text,
                client.get(srv.url("/wsgi/")).text,
                call(srv, client, "t.where"),
            }
            assert all(str(name).startswith("hwebserver-handler") for name in names), names


def test_the_loop_serves_while_every_thread_is_busy(srv):
    with httpx.Client(timeout=60) as client:
        for _ in range(20):  # fast first: nothing may learn to run it on the loop
            client.get(srv.url("/block?s=0"))
        busy = [
            in_background(lambda i=i: httpx.get(srv.url(f"/block?s=4&tag=b{i}"), timeout=60))
            for i in range(THREADS)
        ]
        wait_for(lambda: client.get(srv.url("/started")).status_code == 200, timeout=10)
        # The threads are all taken: these are answered by the loop, at once.
        for path in ("/ahello", "/static/file.txt", "/pid"):
            started = time.monotonic()
            assert client.get(srv.url(path)).status_code == 200
            assert time.monotonic() - started < 1.0, path
        for thread, result in busy:
            thread.join(timeout=60)
            assert result["value"].status_code == 200


def test_calls_beyond_the_thread_limit_wait_their_turn_in_order(srv):
    with httpx.Client(timeout=60) as client:
        first = [
            in_background(lambda i=i: httpx.get(srv.url(f"/block?s=2&tag=a{i}"), timeout=60))
            for i in range(THREADS)
        ]
        wait_for(lambda: len(client.get(srv.url("/started")).text.split(",")) == THREADS)
        queued = []
        for i in range(4):  # each sent after the previous one reached the server's queue
            queued.append(
                in_background(lambda i=i: httpx.get(srv.url(f"/block?s=0.2&tag=q{i}"), timeout=60))
            )
            time.sleep(0.3)
        for thread, result in first + queued:
            thread.join(timeout=60)
            assert result["value"].status_code == 200  # queued, not refused
        order = [tag for tag in client.get(srv.url("/started")).text.split(",") if tag[0] == "q"]
        assert order == ["q0", "q1", "q2", "q3"]


def test_a_handler_longer_than_worker_timeout_completes_on_the_same_worker(srv):
    """WORKER_TIMEOUT is 2 s here; the call takes 6 s. Only a blocked loop is a hung worker."""
    with httpx.Client(timeout=60) as client:
        pid = client.get(srv.url("/pid")).text
        for _ in range(20):  # the same function, fast, many times first
            assert call(srv, client, "t.long_call", seconds=0) == f"done pid={pid}"
        thread, result = in_background(lambda: call(srv, client, "t.long_call", seconds=6))
        for _ in range(10):  # meanwhile the loop answers: other functions, health checks
            started = time.monotonic()
            assert call(srv, client, "t.ping") == "pong"
            assert client.get(srv.url("/pid")).text == pid
            assert time.monotonic() - started < 1.0
            time.sleep(0.4)
        thread.join(timeout=60)
        assert result["value"] == f"done pid={pid}"
        assert client.get(srv.url("/pid")).text == pid
    assert "no heartbeat" not in srv.logs().lower()

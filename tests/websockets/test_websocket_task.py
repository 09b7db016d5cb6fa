"""One task per WebSocket connection: connect(), every receive() and disconnect() of a
connection run in the same asyncio task, another connection's code in another, and the
messages of a connection reach receive() one at a time, in order, a receive() that waits
holding the next message back (tests/apps/websocket_task_app.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support import ServerProcess, wait_for
from websockets.sync.client import connect

TIMEOUT = 20


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Iterator[ServerProcess]:
    with ServerProcess("websocket_task_app.py", tmp_path_factory.mktemp("ws-task")) as process:
        yield process


def url(srv: ServerProcess, path: str) -> str:
    return f"ws://127.0.0.1:{srv.port}{path}"


def test_every_receive_of_a_connection_runs_in_the_task_of_its_connect(srv):
    with connect(url(srv, "/task"), open_timeout=TIMEOUT) as ws:
        replies = []
        for message in ("one", "sleep", "two", "sleep", "three"):
            ws.send(message)
            replies.append(ws.recv(timeout=TIMEOUT))
    same = {reply.split()[0] for reply in replies}
    tokens = {reply.split()[1] for reply in replies}
    assert (same, len(tokens)) == ({"True"}, 1)


def test_two_connections_run_in_two_tasks_and_disconnect_in_their_own(srv):
    with (
        connect(url(srv, "/task"), open_timeout=TIMEOUT) as first,
        connect(url(srv, "/task"), open_timeout=TIMEOUT) as second,
    ):
        first.send("hello")
        second.send("hello")
        one = first.recv(timeout=TIMEOUT).split()[1]
        two = second.recv(timeout=TIMEOUT).split()[1]
    assert one != two

    def seen() -> str | None:
        text = httpx.get(srv.url("/disconnects"), timeout=TIMEOUT).text
        return text if f"{one}=" in text and f"{two}=" in text else None

    text = wait_for(seen, timeout=TIMEOUT)
    assert f"{one}=True" in text.split() and f"{two}=True" in text.split()


def test_a_receive_that_waits_is_not_overtaken_by_the_next_message(srv):
    with connect(url(srv, "/order"), open_timeout=TIMEOUT) as ws:
        sent = ["slow-1", "2", "slow-3", "4", "5"]
        for message in sent:
            ws.send(message)
        assert [ws.recv(timeout=TIMEOUT) for _ in sent] == sent

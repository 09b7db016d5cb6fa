"""A user task cancelled before its first step (by user code or a library cancelling tasks;
on Python 3.11, where a task's first step is the loop's next callback) still answers its
request: a 500, logged, never a request left hanging."""

from __future__ import annotations

import httpx
from support import ServerProcess, wait_for


def test_an_async_handler_cancelled_before_its_first_step_is_answered(tmp_path):
    with ServerProcess("cancelling_app.py", tmp_path) as srv:
        with httpx.Client(timeout=20) as client:
            assert client.get(srv.url("/arm")).text == "armed"
            victim = client.get(srv.url("/victim"))  # hung until the client's timeout before
            assert victim.status_code == 500
            assert client.get(srv.url("/version-check-none")).status_code == 404  # still serving
        # On 3.12+ its first step ran eagerly: cancelled at its first await, the same answer.
        wait_for(lambda: "handler for GET /victim raised CancelledError" in srv.logs())

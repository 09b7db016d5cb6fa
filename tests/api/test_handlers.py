"""Plain handlers never stall the event loop, and at most max_num_threads run at once."""

from __future__ import annotations

import threading

import httpx
from support import server, wait_for


def _get_in_thread(url: str, results: dict, key: str) -> threading.Thread:
    def run():
        results[key] = httpx.get(url, timeout=60)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_slow_plain_handler_does_not_stall_other_requests(tmp_path):
    with server(tmp_path) as srv:
        results: dict = {}
        slow = _get_in_thread(srv.url("/sleep?s=3"), results, "slow")
        wait_for(lambda: httpx.get(srv.url("/peak")).text == "1")
        for path in ("/hello", "/async-echo/x", "/echo/y"):
            assert httpx.get(srv.url(path), timeout=60).status_code == 200
        assert "slow" not in results  # answered while the slow handler was still running
        slow.join(timeout=60)
        assert results["slow"].status_code == 200


def test_at_most_max_num_threads_plain_handlers_run_at_once(tmp_path):
    with server(tmp_path, max_num_threads=2) as srv:
        results: dict = {}
        threads = [_get_in_thread(srv.url("/sleep?s=0.5"), results, str(i)) for i in range(6)]
        for thread in threads:
            thread.join(timeout=60)
        assert all(results[str(i)].status_code == 200 for i in range(6))
        assert httpx.get(srv.url("/peak")).text == "2"


def test_async_handlers_are_not_limited_by_the_thread_pool(tmp_path):
    with server(tmp_path, max_num_threads=1) as srv:
        results: dict = {}
        slow = _get_in_thread(srv.url("/sleep?s=3"), results, "blocking")
        wait_for(lambda: "blocking" in results or httpx.get(srv.url("/async-echo/x")).status_code)
        threads = [_get_in_thread(srv.url("/async-sleep?s=0.5"), results, str(i)) for i in range(5)]
        for thread in threads:
            thread.join(timeout=60)
        assert "blocking" not in results
        assert all(results[str(i)].text == "slept" for i in range(5))
        slow.join(timeout=60)

"""Saturated handler threads: every plain-handler thread stuck, calls queue behind them. The
queue shows in /metrics, /readyz answers 503 while the oldest call waited past
HANDLER_QUEUE_WAIT (a load balancer sends traffic elsewhere), and one WARNING names the
handlers holding the threads, with their stacks."""

from __future__ import annotations

import re
import threading
from typing import Any

import httpx
from support import ServerProcess, wait_for
from test_admin import admin_service, per_worker, scrape

WAIT = 1.0  # HANDLER_QUEUE_WAIT
STUCK = 8.0  # seconds each of the first calls holds its thread


def get_in_background(url: str, results: list[Any]) -> threading.Thread:
    def run() -> None:
        try:
            results.append(httpx.get(url, timeout=60).status_code)
        except httpx.HTTPError as exc:
            results.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def readyz(srv: ServerProcess) -> int:
    return httpx.get(srv.url("/readyz", "admin"), timeout=10).status_code


def test_saturated_handler_threads_are_measured_logged_and_unready(tmp_path):
    kwargs = {"max_num_threads": 2, "settings": {"HANDLER_QUEUE_WAIT": WAIT}}
    with admin_service(tmp_path, **kwargs) as srv:
        assert readyz(srv) == 200
        results: list[Any] = []
        calls = [get_in_background(srv.url(f"/stuck?s={STUCK}"), results) for _ in range(2)]
        # Both threads taken by the stuck calls first (the worker's heartbeat counts them).
        in_flight = "hwebserver_worker_in_flight"
        wait_for(lambda: list(per_worker(scrape(srv), in_flight).values()) == [2], STUCK / 2)
        calls += [get_in_background(srv.url("/stuck?s=0"), results) for _ in range(3)]
        wait_for(lambda: readyz(srv) == 503, timeout=STUCK)
        found = wait_for(
            lambda: (
                (s := scrape(srv))
                and max(per_worker(s, "hwebserver_worker_queued_calls").values()) == 3
                and s
            ),
            timeout=STUCK,
        )
        assert max(per_worker(found, "hwebserver_worker_oldest_call_wait_seconds").values()) > 0
        logs = wait_for(lambda: "every handler thread (2) busy" in srv.logs() and srv.logs())
        assert re.search(r"WARNING worker \d+: every handler thread \(2\) busy, 3 call\(s\)", logs)
        # Both threads named, with the handler, the request and the line it is stuck on.
        assert len(re.findall(r"hwebserver-handler-\d: \S+\.stuck \(GET /stuck\)", logs)) == 2
        assert re.search(r'admin_app\.py", line \d+, in stuck\n\s+time\.sleep', logs), logs
        for call in calls:
            call.join(60)
        assert results == [200] * 5  # queued, never refused
        wait_for(lambda: readyz(srv) == 200, timeout=10)
        wait_for(lambda: "handler threads caught up" in srv.logs(), timeout=10)
        # /metrics shows the worker's last heartbeat, which may be from before it caught up.
        wait_for(
            lambda: max(per_worker(scrape(srv), "hwebserver_worker_queued_calls").values()) == 0,
            timeout=10,
        )

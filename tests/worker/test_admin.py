"""ADMIN_ENDPOINTS: /metrics (Prometheus text), /livez and /readyz, and SHUTDOWN_DELAY, seen
through real sockets as a monitoring system or a load balancer sees them."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from supervision import worker_pids
from support import ServerProcess, wait_for

ADMIN = {"ADMIN_PORT_SETTINGS": json.dumps({"admin": {"ADMIN_ENDPOINTS": True}})}


def admin_service(tmp_path: Any, **run_kwargs: Any) -> ServerProcess:
    kwargs = {"ports": ["admin"], **run_kwargs}
    return ServerProcess(
        "admin_app.py", tmp_path, kwargs, env=ADMIN, expect_ports=("main", "admin")
    )


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by (name, sorted labels)."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def scrape(srv: ServerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(srv.url("/metrics", "admin"), timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


def total(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], status: str) -> float:
    return found.get(("hwebserver_requests_total", (("status", status),)), 0.0)


def per_worker(found: dict[Any, float], name: str) -> dict[int, float]:
    return {
        int(dict(labels)["pid"]): value
        for (sample, labels), value in found.items()
        if sample == name and "status" not in dict(labels)
    }


def test_metrics_count_every_worker_and_the_totals(tmp_path):
    with admin_service(tmp_path, workers=2) as srv:
        wait_for(lambda: len(worker_pids(srv)) == 2)
        with httpx.Client() as client:
            for _ in range(20):
                assert client.get(srv.url("/hello")).status_code == 200
            assert client.get(srv.url("/boom")).status_code == 500
            assert client.get(srv.url("/no-such-page")).status_code == 404

        # The counts reach the supervisor in the workers' heartbeats (every second).
        def complete(found: dict[Any, float]) -> bool:
            rss = per_worker(found, "hwebserver_worker_rss_bytes")
            counted = total(found, "2xx") >= 20 and total(found, "5xx") >= 1
            return counted and len(rss) == 2 and all(value > 0 for value in rss.values())

        found = wait_for(lambda: (lambda f: f if complete(f) else None)(scrape(srv)), timeout=20)
        assert total(found, "4xx") >= 1
        durations = found[("hwebserver_request_duration_seconds_count", ())]
        assert durations >= 22
        assert found[("hwebserver_request_duration_seconds_bucket", (("le", "+Inf"),))] == durations
        pids = worker_pids(srv)
        assert set(per_worker(found, "hwebserver_worker_rss_bytes")) == pids
        assert all(
            rss > 1_000_000 for rss in per_worker(found, "hwebserver_worker_rss_bytes").values()
        )
        assert set(per_worker(found, "hwebserver_worker_loop_lag_seconds")) == pids
        assert found[("hwebserver_workers", ())] == 2
        assert (
            found[("hwebserver_supervisor_info", (("generation", "0"), ("pid", str(srv.pid))))] == 1
        )
        assert found[("hwebserver_reloads_total", (("outcome", "succeeded"),))] == 0
        assert found[("hwebserver_ready", ())] == 1


def test_metrics_keep_the_counts_of_workers_gone_and_count_exits_and_reloads(tmp_path):
    """Counters never go back: a worker killed takes its counts with it only from the
    per-worker series; the totals, the exits by cause and the reloads say what happened."""
    with admin_service(tmp_path, workers=1) as srv:
        [first] = wait_for(lambda: worker_pids(srv))
        with httpx.Client() as client:
            for _ in range(10):
                assert client.get(srv.url("/hello")).status_code == 200
        wait_for(lambda: total(scrape(srv), "2xx") >= 10, timeout=15)
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: worker_pids(srv) and first not in worker_pids(srv), timeout=20)
        found = wait_for(
            lambda: (
                lambda f: (
                    f if ("hwebserver_worker_exits_total", (("cause", "killed"),)) in f else None
                )
            )(scrape(srv)),
            timeout=15,
        )
        assert total(found, "2xx") >= 10  # the killed worker's requests are still counted
        assert first not in per_worker(found, "hwebserver_worker_rss_bytes")
        srv.signal(signal.SIGHUP)
        found = wait_for(
            lambda: (
                lambda f: (
                    f if f.get(("hwebserver_reloads_total", (("outcome", "succeeded"),))) else None
                )
            )(scrape(srv)),
            timeout=30,
        )
        assert total(found, "2xx") >= 10
        wait_for(
            lambda: scrape(srv).get(("hwebserver_worker_exits_total", (("cause", "drained"),))),
            timeout=30,
        )


def test_livez_and_readyz_answer_only_on_the_admin_port(tmp_path):
    with admin_service(tmp_path) as srv:
        live = httpx.get(srv.url("/livez", "admin"), timeout=10)
        ready = httpx.get(srv.url("/readyz", "admin"), timeout=10)
        assert (live.status_code, live.text) == (200, "live\n")
        assert (ready.status_code, ready.text) == (200, "ready\n")
        for path in ("/metrics", "/livez", "/readyz"):
            assert httpx.get(srv.url(path), timeout=10).status_code == 404  # not on 'main'


def test_shutdown_delay_answers_503_on_readyz_while_serving_then_drains(tmp_path):
    """After TERM, /readyz says 503 for SHUTDOWN_DELAY while the port still serves; only
    then does the service drain and exit (status 0)."""
    with admin_service(tmp_path, settings={"SHUTDOWN_DELAY": 4}) as srv:
        assert httpx.get(srv.url("/readyz", "admin"), timeout=10).status_code == 200
        terminated = time.monotonic()
        srv.signal(signal.SIGTERM)
        wait_for(lambda: httpx.get(srv.url("/readyz", "admin"), timeout=10).status_code == 503)
        hello = httpx.get(srv.url("/hello"), timeout=10)
        assert hello.status_code == 200 and hello.text.startswith("hello from ")
        assert httpx.get(srv.url("/livez", "admin"), timeout=10).status_code == 200
        metrics = scrape(srv)
        assert metrics[("hwebserver_ready", ())] == 0
        assert srv.wait(30) == 0
        assert time.monotonic() - terminated >= 3.5
        assert "SHUTDOWN_DELAY" in srv.logs()


def test_a_bad_access_log_format_is_refused_at_start(tmp_path):
    logs = admin_service(tmp_path, settings={"ACCESS_LOG_FORMAT": "xml"}).start_and_fail()
    assert "ACCESS_LOG_FORMAT" in logs and "text, json" in logs


IN_PROCESS_SERVICE = """
import time

from harness import report_port

import hwebserver


@hwebserver.urlHandler("/hello")
def hello(request):
    return "hi"


hwebserver.setSettingsForPort({"ADMIN_ENDPOINTS": True}, "main")
hwebserver.run(port=0, in_background=True, port_callback=report_port)
while True:
    time.sleep(1)
"""


def test_a_server_in_a_thread_serves_its_own_metrics(tmp_path):
    """No supervisor (run(in_background=True)): this process is the one worker."""
    script = tmp_path / "in_process.py"
    script.write_text(IN_PROCESS_SERVICE)
    with ServerProcess(script, tmp_path) as srv:
        for _ in range(3):
            assert httpx.get(srv.url("/hello"), timeout=10).text == "hi"
        response = httpx.get(srv.url("/metrics"), timeout=10)
        assert response.status_code == 200
        found = samples(response.text)
        assert total(found, "2xx") >= 3
        assert set(per_worker(found, "hwebserver_worker_rss_bytes")) == {srv.pid}
        assert not any(name == "hwebserver_supervisor_info" for name, _ in found)
        assert httpx.get(srv.url("/readyz"), timeout=10).status_code == 200
        assert httpx.get(srv.url("/livez"), timeout=10).status_code == 200

"""Several instances behind HAProxy (Debian's package) with /readyz as its active health
check: a rolling restart (TERM with SHUTDOWN_DELAY, start the replacement, wait until HAProxy
sees it up, then the other) and a HUP reload of each, under load, with no failed request.

Everything listens on 127.0.0.1; HAProxy runs in the foreground and is stopped by its PID.
The figures (requests, failures, each step's time) are printed and written to
bench-results/rolling_restart.json.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest
from balancer import HAPROXY, haproxy, server_states
from clientloop import ClientLoop
from supervision import worker_pids
from support import ROOT, ServerProcess, wait_for

from hwebserver.testing import free_port

pytestmark = pytest.mark.skipif(
    HAPROXY is None, reason="haproxy is not installed (scripts/setup installs Debian's haproxy)"
)

SERVICE_SETTINGS = {"ADMIN_ENDPOINTS": True, "SHUTDOWN_DELAY": 1.0}


def start_service(tmp_path: Path, name: str, port: int) -> ServerProcess:
    kwargs = {"port": port, "settings": SERVICE_SETTINGS, "verbosity": 1}
    return ServerProcess("admin_app.py", tmp_path / name, kwargs).start()


def reloads_succeeded(srv: ServerProcess) -> float:
    text = httpx.get(srv.url("/metrics"), timeout=10).text
    for line in text.splitlines():
        if line.startswith('hwebserver_reloads_total{outcome="succeeded"}'):
            return float(line.split()[-1])
    return 0.0


def test_rolling_restart_and_reloads_behind_haproxy_fail_no_request(tmp_path):
    ports = {"a": free_port(), "b": free_port()}
    services: dict[str, ServerProcess] = {}
    started_all: list[ServerProcess] = []
    steps: dict[str, float] = {}
    try:
        for name, port in ports.items():
            services[name] = start_service(tmp_path, f"{name}0", port)
            started_all.append(services[name])
        with haproxy(tmp_path, ports) as (front, stats):
            wait_for(lambda: set(server_states(stats).values()) == {"UP"}, timeout=30)
            url = f"http://127.0.0.1:{front}/hello"
            began = time.monotonic()
            loops = {"max_requests": 100_000, "max_seconds": 120.0}
            with (
                ClientLoop(url, pause=0.002, **loops) as kept,
                ClientLoop(url, keep_alive=False, pause=0.005, **loops) as fresh,
            ):
                kept.wait_for_count(50)
                fresh.wait_for_count(20)
                for generation, name in enumerate(("a", "b"), start=1):
                    step = time.monotonic()
                    old = services[name]
                    old.signal(signal.SIGTERM)  # /readyz 503 for SHUTDOWN_DELAY, then drain
                    wait_for(lambda name=name: server_states(stats).get(name) == "DOWN", timeout=10)
                    steps[f"{name}: TERM until HAProxy marks it down"] = time.monotonic() - step
                    assert old.wait(30) == 0
                    steps[f"{name}: TERM until it exited"] = time.monotonic() - step
                    services[name] = start_service(tmp_path, f"{name}{generation}", ports[name])
                    started_all.append(services[name])
                    wait_for(lambda name=name: server_states(stats).get(name) == "UP", timeout=30)
                    steps[f"{name}: TERM until its replacement is UP in HAProxy"] = (
                        time.monotonic() - step
                    )
                for name in ("a", "b"):
                    step = time.monotonic()
                    srv = services[name]
                    old_workers = worker_pids(srv)
                    srv.signal(signal.SIGHUP)
                    wait_for(lambda srv=srv: reloads_succeeded(srv) >= 1, timeout=30)
                    wait_for(
                        lambda srv=srv, old=old_workers: not worker_pids(srv) & old, timeout=30
                    )
                    steps[f"{name}: HUP until the old workers are gone"] = time.monotonic() - step
                kept.wait_for_count(50)
                fresh.wait_for_count(20)
            elapsed = time.monotonic() - began
        served = len(kept.texts) + len(fresh.texts)
        failures = kept.failures + fresh.failures
        answered_by = {text.split()[-1] for text in kept.texts + fresh.texts}
        figures = {
            "requests_served": served,
            "requests_failed": len(failures),
            "seconds": round(elapsed, 2),
            "distinct_worker_pids_answering": len(answered_by),
            "steps_seconds": {step: round(seconds, 2) for step, seconds in steps.items()},
        }
        print(json.dumps(figures, indent=2))
        results = ROOT / "bench-results"
        results.mkdir(exist_ok=True)
        (results / "rolling_restart.json").write_text(json.dumps(figures, indent=2) + "\n")
        assert failures == [], failures[:5]
        assert served > 200
        # Both original services, both replacements and both reloads answered.
        assert len(answered_by) >= 6
    finally:
        for srv in started_all:
            srv.stop()

"""examples/farm: its API (submit, list, cancel), its WebSocket feed, and its dashboard driven
in headless Chromium (Debian's package; skipped, saying why, without it): a job submitted from
the page shows progress arriving over the WebSocket, and the worker table fills from /metrics.
The dashboard's screenshot goes to bench-results/farm_dashboard.png.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from supervision import worker_pids
from support import ROOT, ServerProcess, kill_pids, wait_for
from websockets.sync.client import ClientConnection, connect

from hwebserver import apiclient

FARM = ROOT / "examples" / "farm" / "service.py"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def farm(tmp_path: Path) -> Iterator[ServerProcess]:
    env = {"PORT": "0", "FARM_FRAME_SECONDS": "0.1"}
    with ServerProcess(FARM, tmp_path, command=[sys.executable, str(FARM)], env=env) as srv:
        yield srv


def test_farm_api_and_feed(tmp_path):
    with farm(tmp_path) as srv:
        service = apiclient.Service(srv.url("/api"))
        with connect(srv.url("/farm/feed").replace("http", "ws"), open_timeout=10) as feed:
            assert json.loads(feed.recv(timeout=10))["jobs"] == []
            job = service.farm.submit(name="shot_020", frames=5)
            assert job["state"] == "queued" and job["frames"] == 5
            progress = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (not progress or progress[-1]["state"] != "done"):
                [entry] = json.loads(feed.recv(timeout=10))["jobs"]
                progress.append(entry)
        assert [entry["done"] for entry in progress if entry["done"]][-1] == 5
        assert progress[-1]["state"] == "done"
        second = service.farm.submit(name="long", frames=1000)
        assert service.farm.cancel(job_id=second["id"])["state"] == "cancelled"
        assert {j["id"]: j["state"] for j in service.farm.jobs()}[second["id"]] == "cancelled"
        with pytest.raises(apiclient.APIError, match="frames must be from 1"):
            service.farm.submit(name="bad", frames=0)
        with pytest.raises(apiclient.APIError, match="no job 999"):
            service.farm.cancel(job_id=999)
        assert "hwebserver_worker_rss_bytes" in httpx.get(srv.url("/metrics"), timeout=10).text
        assert httpx.get(srv.url("/"), timeout=10).headers["content-type"].startswith("text/html")


class DevTools:
    """Just enough of the Chrome DevTools Protocol: commands by id, events ignored."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")


@contextlib.contextmanager
def chromium(tmp_path: Path) -> Iterator[DevTools]:
    """Headless Chromium with a debugging port; it and its children are stopped by PID."""
    assert CHROMIUM is not None
    profile = tmp_path / "chromium-profile"
    command = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    command += ["--disable-dev-shm-usage", "--window-size=1280,900", "--remote-debugging-port=0"]
    command += [f"--user-data-dir={profile}", "about:blank"]
    log = open(tmp_path / "chromium.log", "wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    seen: set[int] = set()
    try:
        active = profile / "DevToolsActivePort"
        wait_for(lambda: active.exists() and len(active.read_text().split()) == 2, timeout=60)
        port = int(active.read_text().split()[0])
        seen.update(child.pid for child in psutil.Process(proc.pid).children(recursive=True))
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(target for target in targets if target["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as socket:
            yield DevTools(socket)
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            seen.update(child.pid for child in psutil.Process(proc.pid).children(recursive=True))
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        kill_pids(seen)
        log.close()


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (scripts/setup installs Debian's chromium)"
)
def test_dashboard_in_headless_chromium(tmp_path):
    with farm(tmp_path) as srv, chromium(tmp_path) as browser:
        browser.call("Page.enable")
        browser.call("Page.navigate", url=srv.url("/"))
        wait_for(
            lambda: (
                browser.evaluate("document.getElementById('feed-state')?.textContent") == "live"
            ),
            timeout=30,
            interval=0.2,
        )
        browser.evaluate(
            "document.getElementById('job-name').value = 'shot_from_page';"
            "document.getElementById('job-frames').value = '40';"
            "document.getElementById('submit-button').click();"
        )
        job_row = """(() => {
            const row = [...document.querySelectorAll('#jobs tbody tr')]
                .find(r => r.cells[1].textContent === 'shot_from_page');
            return row ? [row.cells[2].textContent, row.querySelector('.progress').textContent]
                       : null;
        })()"""
        # Frames arrive over the WebSocket: the row's progress moves on by itself.
        first = wait_for(lambda: browser.evaluate(job_row), timeout=30, interval=0.2)
        rendering = wait_for(
            lambda: (
                lambda row: (
                    row
                    if row and row[0] == "rendering" and int(row[1].split("/")[0]) >= 5
                    else None
                )
            )(browser.evaluate(job_row)),
            timeout=30,
            interval=0.2,
        )
        assert first[1].strip().endswith("/ 40") and rendering[1].strip().endswith("/ 40")
        assert "submitted job" in browser.evaluate(
            "document.getElementById('submit-message').textContent"
        )
        worker_rows = "[...document.querySelectorAll('#workers tbody tr.worker')].map(r => [...r.cells].map(c => c.textContent))"
        # Once a heartbeat carried them: the page's requests, and its WebSocket held open.
        rows = wait_for(
            lambda: (
                lambda rows: rows if rows and int(rows[0][2]) > 0 and int(rows[0][5]) >= 1 else None
            )(browser.evaluate(worker_rows)),
            timeout=30,
            interval=0.2,
        )
        assert {int(row[0]) for row in rows} == worker_pids(srv)
        assert all(row[6].endswith("MiB") and float(row[6].split()[0]) > 1 for row in rows)
        shot = browser.call("Page.captureScreenshot", format="png")
        results = ROOT / "bench-results"
        results.mkdir(exist_ok=True)
        (results / "farm_dashboard.png").write_bytes(base64.b64decode(shot["data"]))
